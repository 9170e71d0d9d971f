/**
 * The rules of a run's log that every run store keeps alike, whatever its database: how many
 * lines may wait for the store and what a line weighs, which lines a read shows (none past the
 * per-run limit), when the oldest are deleted, and the SYSTEM line that stands for the lines
 * dropped while the store could not write. And how a run store's writes (run changes, log
 * lines) wait for the store, as options of either write-behind.
 */
import type { AgentRun, LogLine } from '../../runs/agent-run.js';
import type { StoreHealth } from '../store-health.js';

/** Write at once when this many lines wait. */
export const LOG_BATCH_LINES = 512;
/**
 * What log lines may wait in memory while the store cannot write, in characters with a
 * per-line overhead (LOG_LINE_OVERHEAD_CHARS): some 16 MiB of heap, 60,000 short lines or
 * 500 of the longest (16 Ki characters).
 */
export const LOG_PENDING_MAX_CHARS = 8 * 1024 * 1024;
const LOG_LINE_OVERHEAD_CHARS = 128;
/** The names of a run store's writes in the store's health report. */
export const RUN_WRITES = { runs: 'run changes', newRuns: 'new runs', logs: 'log lines' } as const;

/**
 * How a run's changes wait for the store: the newest snapshot of each run (keyed), written as
 * they happen. One per run: bounded by the runs that exist while new ones are refused.
 */
export const RUN_CHANGE_WRITES = {
  what: RUN_WRITES.runs,
  batchSize: 64,
  maxPending: Number.POSITIVE_INFINITY,
  keyOf: (run: AgentRun): string => run.id,
} as const;

/** How log lines wait for the store, but for their bound (the store's logPendingMaxChars). */
export const LOG_WRITES = {
  what: RUN_WRITES.logs,
  batchSize: LOG_BATCH_LINES,
  weightOf: (line: LogLine): number => logLineWeight(line),
} as const;

/** What every run store is given. */
export interface RunStoreOptions {
  /** Lines kept per run; the oldest go first. */
  readonly logLinesPerRun: number;
  /** Retries failed writes and reports the store's health; shared by every store on the database. Default: its own, silent. */
  readonly health?: StoreHealth;
  /** What log lines may wait while writes fail; default LOG_PENDING_MAX_CHARS. */
  readonly logPendingMaxChars?: number;
}

/** A line's share of LOG_PENDING_MAX_CHARS (and of a batch's weight): its characters and an overhead. */
export function logLineWeight(line: LogLine): number {
  return line.line.length + LOG_LINE_OVERHEAD_CHARS;
}

/**
 * The lines of one run (in seq order) a read shows: trimming runs in steps, so what is past the
 * per-run limit, counted back from the newest, may still be stored; it is hidden.
 */
export function withinLogLimit(lines: readonly LogLine[], logLinesPerRun: number): LogLine[] {
  const oldestKept = (lines.at(-1)?.seq ?? 0) - logLinesPerRun;
  return lines.filter((line) => line.seq > oldestKept);
}

/**
 * Up to which seq a run's oldest lines are deleted, or undefined while they may stay: once the
 * run holds (from `firstSeq` to `lastSeq`) a tenth more than its limit, so trimming deletes in
 * steps rather than a line per line written.
 */
export function logTrimThrough(firstSeq: number, lastSeq: number, logLinesPerRun: number): number | undefined {
  if (lastSeq - firstSeq + 1 <= logLinesPerRun + Math.ceil(logLinesPerRun / 10)) return undefined;
  return lastSeq - logLinesPerRun;
}

/** Stored lines followed by waiting ones (newer), in seq order. */
export function mergeBySeq(stored: readonly LogLine[], waiting: readonly LogLine[]): LogLine[] {
  if (waiting.length === 0) return [...stored];
  return [...stored, ...waiting].sort((a, b) => a.seq - b.seq);
}

/** Lines of a run dropped while writes failed, counted on the SYSTEM line that takes the first one's place. */
interface DropNotice {
  readonly entry: LogLine;
  count: number;
}

/**
 * The lines a run store drops when LOG_PENDING_MAX_CHARS is reached: the first dropped line of
 * a run waits in its place as a SYSTEM notice that counts the dropped lines until it is written;
 * a later drop of the same run starts a new notice.
 */
export class LogDrops {
  private readonly notices = new Map<string, DropNotice>();

  constructor(
    private readonly options: {
      readonly health: StoreHealth;
      /** Why the store cannot write, for the notice's text. */
      readonly writeFault: () => string | null;
    },
  ) {}

  /**
   * Counts a line the store could not keep. True when it is the first of its run since the
   * run's last notice was written: the caller queues it (even past the bound) as the notice.
   */
  drop(entry: LogLine): boolean {
    this.options.health.dropped(RUN_WRITES.logs);
    const notice = this.notices.get(entry.runId);
    if (notice) {
      notice.count += 1;
      return false;
    }
    this.notices.set(entry.runId, { entry, count: 1 });
    return true;
  }

  /** A waiting line as it will be stored: a drop notice gets its text. */
  asStored(line: LogLine): LogLine {
    const notice = this.notices.get(line.runId);
    if (notice?.entry !== line) return line;
    const text =
      `bosun dropped ${notice.count} log line${notice.count === 1 ? '' : 's'} of this run here: the store could not write ` +
      `(${this.options.writeFault() ?? 'a write failed'}) and the lines waiting for it had reached their limit`;
    return Object.freeze({ ...line, stream: 'SYSTEM', step: null, line: text });
  }

  /** The lines of a run among `waiting` (those waiting for the store), after `afterSeq`, as they will be stored. */
  waitingLines(waiting: readonly LogLine[], runId: string, afterSeq: number): LogLine[] {
    return waiting.filter((line) => line.runId === runId && line.seq > afterSeq).map((line) => this.asStored(line));
  }

  /** A batch as it will be stored, and what to call once it is written (its notices are then done). */
  prepare(batch: readonly LogLine[]): { readonly lines: LogLine[]; readonly written: () => void } {
    const notices: LogLine[] = [];
    const lines = batch.map((original) => {
      const line = this.asStored(original);
      if (line !== original) notices.push(original);
      return line;
    });
    const written = () => {
      for (const original of notices) if (this.notices.get(original.runId)?.entry === original) this.notices.delete(original.runId);
    };
    return { lines, written };
  }
}
