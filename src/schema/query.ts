/**
 * The `Query` type.
 */
import { requireId } from '../resolvers/arguments.js';
import { agentRun, agentRuns, concurrencyAdvice, healthReport, queueStatus } from '../resolvers/queries.js';
import type { BosunBuilder } from './builder.js';
import type { BosunEnums } from './types/enums.js';

export function addQueryType(builder: BosunBuilder, enums: BosunEnums): void {
  builder.queryType({
    fields: (t) => ({
      queueStatus: t.field({
        type: 'QueueStatus',
        resolve: (_root, _args, ctx) => queueStatus(ctx.services),
      }),
      healthReport: t.field({
        type: 'HealthReport',
        resolve: (_root, _args, ctx) => healthReport(ctx.services),
      }),
      concurrencyAdvice: t.field({
        type: 'ConcurrencyAdvice',
        resolve: (_root, _args, ctx) => concurrencyAdvice(ctx.services),
      }),
      agentRun: t.field({
        type: 'AgentRun',
        nullable: true,
        args: { id: t.arg.id({ required: true }) },
        resolve: (_root, args, ctx) => agentRun(ctx.services, requireId('id', args.id)),
      }),
      agentRuns: t.field({
        type: ['AgentRun'],
        description: 'Runs newest first, of the given statuses if any; `limit` 1..500, default 50.',
        args: {
          status: t.arg({ type: [enums.AgentStatus] }),
          limit: t.arg.int(),
        },
        resolve: (_root, args, ctx) => agentRuns(ctx.services, args),
      }),
    }),
  });
}
