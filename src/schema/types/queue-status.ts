/**
 * The queue's status, the ticket a new run gets, and a run's place in line.
 */
import type { BosunBuilder } from '../builder.js';
import type { BosunEnums } from './enums.js';

export function addQueueTypes(builder: BosunBuilder, enums: BosunEnums): void {
  builder.objectType('QueueStatus', {
    fields: (t) => ({
      running: t.exposeInt('running'),
      queued: t.exposeInt('queued'),
      maxConcurrency: t.exposeInt('maxConcurrency', { description: '0 = unlimited.' }),
      utilizationPercent: t.exposeFloat('utilizationPercent', { description: 'running / maxConcurrency × 100; 0 when unlimited.' }),
      paused: t.exposeBoolean('paused'),
    }),
  });

  builder.objectType('QueueTicket', {
    description: 'Where a run stood right after it entered the line.',
    fields: (t) => ({
      position: t.exposeInt('position', { description: '1 = next to start; 0 = started at once.' }),
      running: t.exposeInt('running'),
      queued: t.exposeInt('queued'),
      maxConcurrency: t.exposeInt('maxConcurrency'),
    }),
  });

  builder.objectType('QueuePositionUpdate', {
    fields: (t) => ({
      agentId: t.exposeID('agentId'),
      status: t.expose('status', { type: enums.AgentStatus }),
      position: t.exposeInt('position', { description: '1 = next to start; 0 = not waiting.' }),
      queued: t.exposeInt('queued'),
      running: t.exposeInt('running'),
    }),
  });
}
