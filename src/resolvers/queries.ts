/**
 * Query resolvers: thin reads of the services, with the argument checks GraphQL cannot express.
 */
import type { ConcurrencyAdvice, HealthReport } from '../monitor/monitor-types.js';
import type { QueueStats } from '../queue/execution-queue.js';
import type { AgentRun, AgentStatus } from '../runs/agent-run.js';
import type { BosunServices } from '../schema/context.js';
import { listLimit } from './arguments.js';

export function queueStatus(services: Pick<BosunServices, 'queue'>): QueueStats {
  return services.queue.stats();
}

export function healthReport(services: Pick<BosunServices, 'monitor'>): Promise<HealthReport> {
  return services.monitor.generateReport();
}

export function concurrencyAdvice(services: Pick<BosunServices, 'monitor'>): Promise<ConcurrencyAdvice> {
  return services.monitor.concurrencyAdvice();
}

/** The run, or null when there is none with that id. */
export function agentRun(services: Pick<BosunServices, 'runs'>, id: string): AgentRun | null {
  return services.runs.get(id) ?? null;
}

export interface AgentRunsArgs {
  readonly status?: readonly AgentStatus[] | null;
  readonly limit?: number | null;
}

/**
 * Runs newest first, optionally of some statuses.
 * @throws BosunError BAD_USER_INPUT when `limit` is not 1..500.
 */
export function agentRuns(services: Pick<BosunServices, 'runs'>, args: AgentRunsArgs): readonly AgentRun[] {
  const limit = listLimit(args.limit);
  return services.runs.list({ status: args.status ?? null, limit }).slice(0, limit);
}
