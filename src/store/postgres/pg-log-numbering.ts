/**
 * Where each run's log numbering stands on this node, for PostgresRunStore's synchronous
 * appendLog (the asynchronous contract: a line's seq is given in memory by the one node that
 * writes the run's log, after the highest seq stored for it).
 *
 * A node learns a run's numbering when it inserts the run (0) or reads it while it is unfinished
 * (the highest stored seq comes with the row), and keeps the larger of what it knew and what it
 * reads: a node that takes over a run (recovery) goes on after the last line of the node before
 * it, and a stale read never takes a number back from lines this node gave out and has not
 * written yet.
 */
import { BosunError } from '../../errors.js';

/**
 * Runs whose numbering is kept although this node does not write their logs (read while
 * unfinished, or finished here lately), at most: enough for every run a node reads while they
 * run; beyond it, a run is read again before its log is written.
 */
const KNOWN_LOGS_MAX = 4096;

export class LogNumbering {
  /** The last seq given per run whose log this node writes (inserted or appended here, not finished). */
  private readonly open = new Map<string, number>();
  /** The last seq known of other runs, least recently used first. */
  private readonly known = new Map<string, number>();

  /** A run this node recorded: its log starts at 1. */
  started(runId: string, finished: boolean): void {
    if (finished) this.remember(runId, 0);
    else this.open.set(runId, 0);
  }

  /** Whether this node writes the run's log (it inserted or appended to it, and has not finished it). */
  isOpen(runId: string): boolean {
    return this.open.has(runId);
  }

  /** The last seq this node gave out or knows of, if any. */
  last(runId: string): number | undefined {
    return this.open.get(runId) ?? this.known.get(runId);
  }

  /**
   * The run's next seq, now this node's to give.
   * @throws BosunError INVALID_STATE when this node has neither recorded nor read the run.
   */
  next(runId: string): number {
    const last = this.last(runId);
    if (last === undefined) {
      throw new BosunError(
        'INVALID_STATE',
        `run ${runId}: its log's numbering is not known on this node; read the run (get or unfinished) or insert it before appending to its log`,
      );
    }
    this.known.delete(runId);
    this.open.set(runId, last + 1);
    return last + 1;
  }

  /** What a read says of a run's numbering (the highest stored seq): the larger of it and what this node knew wins. */
  stored(runId: string, storedSeq: number): void {
    const open = this.open.get(runId);
    if (open !== undefined) this.open.set(runId, Math.max(open, storedSeq));
    else this.remember(runId, Math.max(this.known.get(runId) ?? 0, storedSeq));
  }

  /** The run finished here: nobody appends to it but late lines of its end, which go on from here. */
  finished(runId: string): void {
    const last = this.open.get(runId);
    if (last === undefined) return;
    this.open.delete(runId);
    this.remember(runId, last);
  }

  private remember(runId: string, last: number): void {
    this.known.delete(runId);
    this.known.set(runId, last);
    if (this.known.size > KNOWN_LOGS_MAX) {
      const oldest = this.known.keys().next().value;
      if (oldest !== undefined) this.known.delete(oldest);
    }
  }
}
