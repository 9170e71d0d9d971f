/**
 * Where runs and their logs live. Implemented by {@link SqliteRunStore} (a file for production,
 * `:memory:` for tests); a shared store for several bosun nodes would implement the same.
 */
import type { AgentRun, AgentStatus, LogLine, LogStream } from './agent-run.js';

export interface RunStore {
  insert(run: AgentRun): void;
  /** Replaces a run with its new snapshot. */
  update(run: AgentRun): void;
  get(id: string): AgentRun | undefined;
  /** Newest first. */
  list(status: ReadonlySet<AgentStatus> | undefined, limit: number): AgentRun[];
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
