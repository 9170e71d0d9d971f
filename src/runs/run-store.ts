/**
 * Where runs and their logs live. Implemented by {@link SqliteRunStore} (a file for production,
 * `:memory:` for tests); a shared store for several bosun nodes would implement the same.
 */
import type { AgentRun, AgentStatus, FailureGroup, LogLine, LogStream } from './agent-run.js';

/** Which runs a page or a count covers; every condition given must hold. */
export interface RunFilter {
  /** Only runs with one of these statuses. */
  readonly status?: ReadonlySet<AgentStatus>;
  /** Only runs of this failure group. */
  readonly groupId?: string;
}

/** A run with its place in the order runs were recorded. */
export interface KeyedRun {
  readonly run: AgentRun;
  /**
   * Larger is newer. A run's key never changes and no other run ever gets it, even after the run
   * is pruned: a page that starts after a key is the same whatever was recorded meanwhile.
   */
  readonly key: number;
}

/** One page of runs, newest first. */
export interface RunPage {
  readonly runs: readonly KeyedRun[];
  /** Older runs match after the last of the page. */
  readonly hasNextPage: boolean;
  /** Newer runs match before the key the page starts after (false for a first page). */
  readonly hasPreviousPage: boolean;
}

export interface RunStore {
  insert(run: AgentRun): void;
  /** Replaces a run with its new snapshot. */
  update(run: AgentRun): void;
  get(id: string): AgentRun | undefined;
  /** Newest first. */
  list(status: ReadonlySet<AgentStatus> | undefined, limit: number): AgentRun[];
  /** The newest `first` runs that match `filter` and are older than the run with key `olderThan` (if given). */
  page(filter: RunFilter, first: number, olderThan?: number): RunPage;
  /** How many runs match `filter`. */
  count(filter: RunFilter): number;
  /**
   * The failure group `id` as its runs gave it: the name of its newest run, and every CI run id
   * its runs named, in the order first given. Undefined when no run names it.
   */
  group(id: string): FailureGroup | undefined;
  /** Runs that are QUEUED or RUNNING, in queue order (oldest first): what a restart recovers. */
  unfinished(): AgentRun[];
  /** Records a line; its sequence number is the run's next. */
  appendLog(runId: string, stream: LogStream, step: number | null, line: string): LogLine;
  /**
   * Lines after `afterSeq` (exclusive), oldest first, then only the last `last` of them, then
   * only the first `first` of those (a page: without `last`, the rest is not read).
   */
  readLogs(runId: string, afterSeq?: number, last?: number, first?: number): LogLine[];
  /** Writes anything buffered (log lines) now; called at shutdown. */
  flush?(): void;
  /**
   * Why the store cannot write now (what and the error), or null when it can. While it cannot,
   * the run service admits no new run (UNAVAILABLE); running runs go on, their changes kept.
   */
  writeFault?(): string | null;
}
