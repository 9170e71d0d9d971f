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

/**
 * Asynchronous where a shared store (PostgreSQL) must be; the writes a run makes while it runs
 * (`update`, `appendLog`) stay synchronous and write-behind, so that recording a run never waits
 * for the store. SQLite answers every read at once (in a resolved promise).
 */
export interface RunStore {
  /**
   * Records a new run; resolves once it is durable (startAgent awaits it). Rejects when the store
   * cannot write it: nothing is kept then, and the run is refused.
   */
  insert(run: AgentRun): Promise<void>;
  /**
   * Replaces a run with its new snapshot. Write-behind: returns at once; a failed write is
   * retried and reported through {@link writeFault}, never thrown. Reads see the new snapshot.
   */
  update(run: AgentRun): void;
  get(id: string): Promise<AgentRun | undefined>;
  /** Newest first. */
  list(status: ReadonlySet<AgentStatus> | undefined, limit: number): Promise<AgentRun[]>;
  /** The newest `first` runs that match `filter` and are older than the run with key `olderThan` (if given). */
  page(filter: RunFilter, first: number, olderThan?: number): Promise<RunPage>;
  /** How many runs match `filter`. */
  count(filter: RunFilter): Promise<number>;
  /**
   * The failure group `id` as its runs gave it: the name of its newest run, and every CI run id
   * its runs named, in the order first given. Undefined when no run names it.
   */
  group(id: string): Promise<FailureGroup | undefined>;
  /** Runs that are QUEUED or RUNNING, in queue order (oldest first): what a restart recovers. */
  unfinished(): Promise<AgentRun[]>;
  /**
   * Records a line. Synchronous: its seq is assigned in memory by the one node that writes the
   * run's logs (the node running it), starting after the highest seq stored for the run; the
   * write itself is write-behind.
   */
  appendLog(runId: string, stream: LogStream, step: number | null, line: string): LogLine;
  /**
   * Lines after `afterSeq` (exclusive), oldest first, then only the last `last` of them, then
   * only the first `first` of those (a page: without `last`, the rest is not read). Every line
   * appended before the call is read.
   */
  readLogs(runId: string, afterSeq?: number, last?: number, first?: number): Promise<LogLine[]>;
  /** Writes what is buffered (log lines, run changes); resolves true when everything was written. */
  flush(): Promise<boolean>;
  /**
   * Why the store cannot write now (what and the error), or null when it can. While it cannot,
   * the run service admits no new run (UNAVAILABLE); running runs go on, their changes kept.
   */
  writeFault(): string | null;
}
