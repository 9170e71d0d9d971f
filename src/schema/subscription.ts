/**
 * The `Subscription` type. Each field's `subscribe` returns a stream from src/resolvers that
 * follows the services' events; `resolve` hands each event through, or rethrows the in-band
 * failure that ends a stream (so the client gets a coded error result, not a torn connection).
 */
import { optionalId, requireId } from '../resolvers/arguments.js';
import { unwrapStreamItem } from '../resolvers/event-channel.js';
import { healthAlerts, resourceSamples } from '../resolvers/monitor-streams.js';
import { queuePositionChanged, queueStatusChanged } from '../resolvers/queue-streams.js';
import { agentLogs, agentRunUpdated } from '../resolvers/run-streams.js';
import type { BosunBuilder } from './builder.js';
import type { BosunEnums } from './types/enums.js';

export function addSubscriptionType(builder: BosunBuilder, enums: BosunEnums): void {
  builder.subscriptionType({
    fields: (t) => ({
      queuePositionChanged: t.field({
        type: 'QueuePositionUpdate',
        description: "The run's position now, then every change; completes after the run leaves the line (RUNNING or final).",
        args: { agentId: t.arg.id({ required: true }) },
        subscribe: (_root, args, ctx) => queuePositionChanged(ctx.services, ctx.streams, requireId('agentId', args.agentId)),
        resolve: unwrapStreamItem,
      }),
      queueStatusChanged: t.field({
        type: 'QueueStatus',
        description: "The queue's status now, then after every change.",
        subscribe: (_root, _args, ctx) => queueStatusChanged(ctx.services, ctx.streams),
        resolve: unwrapStreamItem,
      }),
      agentRunUpdated: t.field({
        type: 'AgentRun',
        description: 'Every update of the run (of every run without `agentId`); for one run, completes after its final status.',
        args: { agentId: t.arg.id() },
        subscribe: (_root, args, ctx) =>
          agentRunUpdated(ctx.services, ctx.streams, optionalId('agentId', args.agentId)),
        resolve: unwrapStreamItem,
      }),
      resourceSamples: t.field({
        type: 'ResourceSample',
        description: 'Published samples, of one run and/or one container if given.',
        args: { agentId: t.arg.id(), containerId: t.arg.id() },
        subscribe: (_root, args, ctx) =>
          resourceSamples(ctx.services, ctx.streams, {
            agentId: optionalId('agentId', args.agentId),
            containerId: optionalId('containerId', args.containerId),
          }),
        resolve: unwrapStreamItem,
      }),
      healthAlerts: t.field({
        type: 'HealthAlert',
        description: 'Alerts at or above `minLevel` (default WARNING; CRITICAL > WARNING), raised and resolved.',
        args: { minLevel: t.arg({ type: enums.HealthLevel }) },
        subscribe: (_root, args, ctx) => healthAlerts(ctx.services, ctx.streams, args.minLevel),
        resolve: unwrapStreamItem,
      }),
      agentLogs: t.field({
        type: 'LogLine',
        description:
          'Buffered lines after `afterSeq` (≥ 0), then live lines, with no gap or duplicate; completes when the run is final and its last line is sent.',
        args: { agentId: t.arg.id({ required: true }), afterSeq: t.arg.int() },
        subscribe: (_root, args, ctx) => agentLogs(ctx.services, ctx.streams, requireId('agentId', args.agentId), args.afterSeq),
        resolve: unwrapStreamItem,
      }),
    }),
  });
}
