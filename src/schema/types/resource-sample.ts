/**
 * `ResourceSample` (one reading of a container) and `ResourcePeak` (a run's highest readings).
 */
import type { BosunBuilder } from '../builder.js';

export function addResourceSampleTypes(builder: BosunBuilder): void {
  builder.objectType('ResourceSample', {
    fields: (t) => ({
      containerId: t.exposeID('containerId'),
      agentId: t.exposeID('agentId', { nullable: true, description: 'Null for containers bosun did not start.' }),
      at: t.expose('at', { type: 'DateTime' }),
      cpuPercent: t.exposeFloat('cpuPercent', { description: '100 = one full CPU.' }),
      memoryUsageBytes: t.exposeFloat('memoryUsageBytes'),
      memoryLimitBytes: t.exposeFloat('memoryLimitBytes'),
      memoryPercent: t.exposeFloat('memoryPercent'),
      pids: t.exposeInt('pids'),
      pidsLimit: t.exposeInt('pidsLimit', { nullable: true }),
    }),
  });

  builder.objectType('ResourcePeak', {
    fields: (t) => ({
      cpuPercent: t.exposeFloat('cpuPercent'),
      memoryBytes: t.exposeFloat('memoryBytes'),
      pids: t.exposeInt('pids'),
    }),
  });
}
