/**
 * `HealthAlert`: a metric stayed at or above a threshold; published again with `resolvedAt`
 * when it recovers.
 */
import type { BosunBuilder } from '../builder.js';
import type { BosunEnums } from './enums.js';

export function addHealthAlertType(builder: BosunBuilder, enums: BosunEnums): void {
  builder.objectType('HealthAlert', {
    fields: (t) => ({
      id: t.exposeID('id'),
      level: t.expose('level', { type: enums.HealthLevel }),
      metric: t.expose('metric', { type: enums.ResourceMetric }),
      value: t.exposeFloat('value'),
      threshold: t.exposeFloat('threshold'),
      containerId: t.exposeID('containerId'),
      agentId: t.exposeID('agentId', { nullable: true }),
      at: t.expose('at', { type: 'DateTime' }),
      message: t.exposeString('message'),
      resolvedAt: t.expose('resolvedAt', { type: 'DateTime', nullable: true }),
    }),
  });
}
