/**
 * What the API needs from the run lifecycle: start, cancel, read, and one typed event source.
 * Implemented by {@link AgentRunService}; the GraphQL layer only adapts this interface.
 */
import type { EventEmitter } from 'node:events';
import type { QueueTicket } from '../queue/execution-queue.js';
import type { SandboxLimits } from '../sandbox/limits.js';
import type { AgentRun, AgentStatus, FailureGroup, LogLine, StartAgentInput } from './agent-run.js';
import type { RunPage } from './run-store.js';

export interface StartAgentResult {
  readonly run: AgentRun;
  readonly ticket: QueueTicket;
}

export interface RunServiceEvents {
  /** Every change of a run: status, container, steps, exit code. The payload is the new snapshot. */
  'run-updated': [run: AgentRun];
  /** A run got its sandbox container (the monitor starts watching it). */
  'container-started': [event: { readonly runId: string; readonly containerId: string; readonly limits: SandboxLimits }];
  /** A run's container is gone (the monitor stops watching it). */
  'container-removed': [event: { readonly runId: string; readonly containerId: string }];
  /** Each log line as it is recorded. */
  log: [line: LogLine];
}

export interface LogQuery {
  /** Only lines with a greater sequence number. */
  readonly afterSeq?: number | null;
  /** Only the last N of the selected lines. */
  readonly last?: number | null;
  /**
   * Only the first N of the selected lines (after `last`): a page. Without `last`, only that
   * page is read, so that a reader that pages through a long log holds one page at a time.
   */
  readonly limit?: number | null;
}

export interface RunListQuery {
  readonly status?: readonly AgentStatus[] | null;
  /** Default 50. */
  readonly limit?: number | null;
}

/** Which runs a page or count covers (`runs(status, groupId)`). */
export interface RunQueryFilter {
  /** Only these statuses; all when null or empty. */
  readonly status?: readonly AgentStatus[] | null;
  /** Only the runs of this failure group. */
  readonly groupId?: string | null;
}

export interface RunPageQuery extends RunQueryFilter {
  /** How many runs at most. */
  readonly first: number;
  /** Only runs older than the run with this key (see KeyedRun); from the newest when null. */
  readonly olderThan?: number | null;
}

export interface RunService {
  readonly events: EventEmitter<RunServiceEvents>;
  /**
   * Validates the input, stores the run and puts it in line; replies at once.
   * @throws BosunError BAD_USER_INPUT, QUEUE_FULL, DOCKER_UNAVAILABLE, SHUTTING_DOWN
   */
  start(input: StartAgentInput): Promise<StartAgentResult>;
  /**
   * Starts a new run with the same input as a finished one (`retryOf` links them).
   * @throws BosunError NOT_FOUND, INVALID_STATE (not finished), plus those of {@link start}
   */
  retry(id: string): Promise<StartAgentResult>;
  /**
   * Cancels a waiting run at once, or stops a running one (SIGTERM, then kill after the grace period).
   * @throws BosunError NOT_FOUND, INVALID_STATE (already finished)
   */
  cancel(id: string): Promise<AgentRun>;
  /** A live run's current snapshot, else the stored one. */
  get(id: string): Promise<AgentRun | undefined>;
  /** Newest first. */
  list(query?: RunListQuery): Promise<readonly AgentRun[]>;
  /** A page of runs, newest first, with their keys (the API's cursors). */
  page(query: RunPageQuery): Promise<RunPage>;
  /** How many runs match. */
  count(filter: RunQueryFilter): Promise<number>;
  /** The failure group `id` (its newest name, every CI run id given); undefined when no run names it. */
  group(id: string): Promise<FailureGroup | undefined>;
  /**
   * The run's lines; every line recorded before the call is read.
   * @throws BosunError NOT_FOUND (as a rejection)
   */
  logs(id: string, query?: LogQuery): Promise<readonly LogLine[]>;
  /** 1 = next to start; 0 = not waiting. */
  position(id: string): number;
}
