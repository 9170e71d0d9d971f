/**
 * `LogLine`: one line of a run's output, numbered per run from 1.
 */
import type { BosunBuilder } from '../builder.js';
import type { BosunEnums } from './enums.js';

export function addLogLineType(builder: BosunBuilder, enums: BosunEnums): void {
  builder.objectType('LogLine', {
    fields: (t) => ({
      agentId: t.exposeID('agentId'),
      seq: t.exposeInt('seq', { description: '1-based, increasing by one per line of the run.' }),
      stream: t.expose('stream', { type: enums.LogStream }),
      step: t.exposeInt('step', { nullable: true, description: "The step's index; null outside a step." }),
      line: t.exposeString('line'),
      at: t.expose('at', { type: 'DateTime' }),
    }),
  });
}
