/**
 * The queue in the API: its status, the ticket a new run gets, a run's place in line, and the
 * fields that read, set and follow them. The streams behind the subscriptions are in
 * queue-streams.ts.
 */
import type { QueueStats } from '../queue/execution-queue.js';
import { maxConcurrency, requireId } from './arguments.js';
import type { BosunBuilder } from './builder.js';
import type { BosunServices } from './context.js';
import { queuePositionChanged, queueStatusChanged, type QueuePositionUpdate } from './queue-streams.js';
import type { RunRefs } from './runs.js';
import { unwrapStreamItem } from './streams/event-channel.js';

/**
 * Sets the queue's concurrency (0 = unlimited) and returns the queue's status after it.
 * @throws BosunError BAD_USER_INPUT when `value` is not an integer from 0 to 10000.
 */
export async function setMaxConcurrency(services: Pick<BosunServices, 'queue'>, value: number): Promise<QueueStats> {
  await services.queue.setMaxConcurrency(maxConcurrency(value));
  return services.queue.stats();
}

/** Registers the queue types and fields on `builder`; a run's place in line names its status. */
export function addQueue(builder: BosunBuilder, runs: Pick<RunRefs, 'AgentStatus'>): void {
  builder.objectType('QueueStatus', {
    description: 'The line of runs: how many run, how many wait, and how many may run at once.',
    fields: (t) => ({
      running: t.exposeInt('running', { description: 'Runs holding a slot now (RUNNING).' }),
      queued: t.exposeInt('queued', { description: 'Runs waiting for a slot (QUEUED).' }),
      maxConcurrency: t.exposeInt('maxConcurrency', {
        description:
          'Runs at once (MAX_CONCURRENT_AGENTS, or setMaxConcurrency); 0 = unlimited. In a cluster, the cluster-wide limit; each node also has a cap of its own (NODE_MAX_CONCURRENT_AGENTS).',
      }),
      utilizationPercent: t.exposeFloat('utilizationPercent', { description: 'running / maxConcurrency × 100; 0 when unlimited.' }),
      paused: t.exposeBoolean('paused', {
        description: 'True while no waiting run starts: the Docker engine does not answer (runs keep their place), or bosun is stopping.',
      }),
    }),
  });

  builder.objectType('QueueTicket', {
    description: 'Where a run stood right after it entered the line.',
    fields: (t) => ({
      position: t.exposeInt('position', { description: '1 = next to start; 0 = started at once.' }),
      running: t.exposeInt('running', { description: 'Runs holding a slot then.' }),
      queued: t.exposeInt('queued', { description: 'Runs waiting then, this one included if it waits.' }),
      maxConcurrency: t.exposeInt('maxConcurrency', { description: 'Runs at once then; 0 = unlimited.' }),
    }),
  });

  const QueuePositionUpdate = builder.objectRef<QueuePositionUpdate>('QueuePositionUpdate').implement({
    description: "A run's place in line, and the line's length then (queuePositionChanged).",
    fields: (t) => ({
      agentId: t.exposeID('agentId', { description: 'The run.' }),
      status: t.expose('status', { type: runs.AgentStatus, description: "The run's status: QUEUED while it waits." }),
      position: t.exposeInt('position', { description: '1 = next to start; 0 = not waiting.' }),
      queued: t.exposeInt('queued', { description: 'Runs waiting then.' }),
      running: t.exposeInt('running', { description: 'Runs holding a slot then.' }),
    }),
  });

  builder.queryFields((t) => ({
    queueStatus: t.field({
      type: 'QueueStatus',
      description: "The queue's status now.",
      resolve: (_root, _args, ctx) => ctx.services.queue.stats(),
    }),
  }));

  builder.mutationFields((t) => ({
    setMaxConcurrency: t.field({
      type: 'QueueStatus',
      description: 'Runs at once, 0 to 10000; 0 = unlimited.',
      args: { value: t.arg.int({ required: true, description: 'The new limit: 0 to 10000, 0 = unlimited. Running runs are not stopped.' }) },
      resolve: (_root, args, ctx) => setMaxConcurrency(ctx.services, args.value),
    }),
  }));

  builder.subscriptionFields((t) => ({
    queuePositionChanged: t.field({
      type: QueuePositionUpdate,
      description: "The run's position now, then every change; completes after the run leaves the line (RUNNING or final).",
      args: { agentId: t.arg.id({ required: true, description: 'The run to follow (NOT_FOUND when there is none).' }) },
      subscribe: (_root, args, ctx) => queuePositionChanged(ctx.services, ctx.streams, requireId('agentId', args.agentId)),
      resolve: unwrapStreamItem,
    }),
    queueStatusChanged: t.field({
      type: 'QueueStatus',
      description: "The queue's status now, then after every change.",
      subscribe: (_root, _args, ctx) => queueStatusChanged(ctx.services, ctx.streams),
      resolve: unwrapStreamItem,
    }),
  }));
}
