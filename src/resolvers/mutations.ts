/**
 * Mutation resolvers. Input validation of `startAgent` lives in the run service (it throws
 * BAD_USER_INPUT); these only adapt arguments and replies.
 */
import type { QueueStats, QueueTicket } from '../queue/execution-queue.js';
import type { AgentRun, AgentStatus, StartAgentInput } from '../runs/agent-run.js';
import type { BosunServices } from '../schema/context.js';
import { maxConcurrency } from './arguments.js';

/** `startAgent`'s reply. */
export interface StartAgentPayload {
  readonly agentId: string;
  readonly status: AgentStatus;
  readonly queue: QueueTicket;
  readonly run: AgentRun;
}

/** @throws BosunError BAD_USER_INPUT, QUEUE_FULL, DOCKER_UNAVAILABLE, SHUTTING_DOWN (from the run service). */
export async function startAgent(services: Pick<BosunServices, 'runs'>, input: StartAgentInput): Promise<StartAgentPayload> {
  const { run, ticket } = await services.runs.start(input);
  return { agentId: run.id, status: run.status, queue: ticket, run };
}

/** @throws BosunError NOT_FOUND, INVALID_STATE, plus those of startAgent (from the run service). */
export async function retryAgent(services: Pick<BosunServices, 'runs'>, id: string): Promise<StartAgentPayload> {
  const { run, ticket } = await services.runs.retry(id);
  return { agentId: run.id, status: run.status, queue: ticket, run };
}

/** @throws BosunError NOT_FOUND, INVALID_STATE (from the run service). */
export function cancelAgent(services: Pick<BosunServices, 'runs'>, id: string): Promise<AgentRun> {
  return services.runs.cancel(id);
}

/**
 * Sets the queue's concurrency (0 = unlimited) and returns the queue's status after it.
 * @throws BosunError BAD_USER_INPUT when `value` is not an integer from 0 to 10000.
 */
export function setMaxConcurrency(services: Pick<BosunServices, 'queue'>, value: number): QueueStats {
  services.queue.setMaxConcurrency(maxConcurrency(value));
  return services.queue.stats();
}
