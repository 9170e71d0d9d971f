/**
 * The logs of runs in SQLite, for SqliteRunStore: log lines are numbered per run, buffered for a
 * moment and written in one transaction per batch, so a step printing thousands of lines costs a
 * few transactions, not thousands, and never blocks the event loop for long. Reads flush the
 * buffer first, so they always see every line; each run keeps its newest `logLinesPerRun`.
 *
 * When the database cannot write, lines wait in memory, are read from there, and are written
 * when the store's health retry succeeds. Waiting lines are bounded (LOG_PENDING_MAX_CHARS): past
 * that a run's further lines are dropped and one SYSTEM line, in the place of the first dropped
 * one, says how many (see LogDrops).
 */
import type { LogLine, LogStream } from '../runs/agent-run.js';
import type { SqliteDatabase } from './database.js';
import { LOG_PENDING_MAX_CHARS, LOG_WRITES, LogDrops, logTrimThrough, mergeBySeq, withinLogLimit } from './shared/run-log-rules.js';
import { logFromColumns, type LogColumns } from './shared/run-rows.js';
import type { StoreHealth } from './store-health.js';
import { WriteBehind } from './write-behind.js';

/**
 * A batch holds at most this many characters (with a per-line overhead, see logLineWeight): one
 * transaction of 512 lines of 1,000 characters held the event loop for some 40 ms; of 512 short
 * lines, a few.
 */
const LOG_BATCH_CHARS = 128 * 1024;

export interface SqliteRunLogOptions {
  /** Lines kept per run; the oldest go first. */
  readonly logLinesPerRun: number;
  /** What log lines may wait while writes fail; default LOG_PENDING_MAX_CHARS. */
  readonly logPendingMaxChars?: number;
  /** The store's health: retries failed writes, and counts dropped lines. */
  readonly health: StoreHealth;
  /** Why the store cannot write, for the SYSTEM line that counts dropped lines. */
  readonly writeFault: () => string | null;
}

export class SqliteRunLog {
  private readonly lastSeq = new Map<string, number>();
  /** The lowest sequence number still stored per run, to trim in steps rather than per line. */
  private readonly firstSeq = new Map<string, number>();
  private readonly writes: WriteBehind<LogLine>;
  private readonly drops: LogDrops;
  private readonly statements;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly options: SqliteRunLogOptions,
  ) {
    this.statements = {
      insertLog: db.prepare('INSERT INTO logs (run_id, seq, stream, step, line, at) VALUES (?, ?, ?, ?, ?, ?)'),
      maxSeq: db.prepare('SELECT max(seq) AS seq FROM logs WHERE run_id = ?'),
      minSeq: db.prepare('SELECT min(seq) AS seq FROM logs WHERE run_id = ?'),
      trimLogs: db.prepare('DELETE FROM logs WHERE run_id = ? AND seq <= ?'),
      readLogs: db.prepare('SELECT * FROM logs WHERE run_id = ? AND seq > ? ORDER BY seq ASC'),
      readLastLogs: db.prepare('SELECT * FROM (SELECT * FROM logs WHERE run_id = ? AND seq > ? ORDER BY seq DESC LIMIT ?) ORDER BY seq ASC'),
      readLogPage: db.prepare('SELECT * FROM logs WHERE run_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?'),
    };
    this.drops = new LogDrops({ health: options.health, writeFault: options.writeFault });
    this.writes = new WriteBehind<LogLine>({
      ...LOG_WRITES,
      write: (batch) => this.writeLogs(batch),
      batchWeight: LOG_BATCH_CHARS,
      maxPending: options.logPendingMaxChars ?? LOG_PENDING_MAX_CHARS,
      health: options.health,
      isOpen: () => db.open,
    });
  }

  /** A new run: its log starts at seq 1. */
  started(runId: string): void {
    this.lastSeq.set(runId, 0);
  }

  /** A finished run: its numbering is no longer kept in memory. */
  finished(runId: string): void {
    this.lastSeq.delete(runId);
    this.firstSeq.delete(runId);
  }

  append(runId: string, stream: LogStream, step: number | null, line: string): LogLine {
    const seq = this.nextSeq(runId);
    const entry: LogLine = Object.freeze({ runId, seq, stream, step, line, at: new Date() });
    if (!this.writes.push(entry) && this.drops.drop(entry)) this.writes.push(entry, true);
    return entry;
  }

  /** RunStore.readLogs. */
  read(runId: string, afterSeq = 0, last?: number, first?: number): LogLine[] {
    if (first !== undefined && last === undefined) return this.readPage(runId, afterSeq, first);
    const written = this.flush();
    const rows = (
      last === undefined ? this.statements.readLogs.all(runId, afterSeq) : this.statements.readLastLogs.all(runId, afterSeq, last)
    ) as LogColumns<number>[];
    let lines = rows.map(logFromRow);
    if (!written) {
      // Lines that wait for the store are newer than every written line of their run.
      lines = mergeBySeq(lines, this.drops.waitingLines(this.writes.waiting(), runId, afterSeq));
      if (last !== undefined) lines = lines.slice(Math.max(0, lines.length - last));
    }
    const kept = withinLogLimit(lines, this.options.logLinesPerRun);
    return first === undefined ? kept : kept.slice(0, first);
  }

  /**
   * Writes buffered lines now. False when some could not be written: they stay in memory, and
   * the store's health retries them.
   */
  flush(): boolean {
    return this.writes.flush();
  }

  /** The first `first` lines after `afterSeq`: one page, read without reading the rest. */
  private readPage(runId: string, afterSeq: number, first: number): LogLine[] {
    const written = this.flush();
    const newest = this.lastSeq.get(runId) ?? (this.statements.maxSeq.get(runId) as { seq: number | null }).seq ?? 0;
    // As in read: what is past the per-run limit but not yet deleted is not read.
    const from = Math.max(afterSeq, newest - this.options.logLinesPerRun);
    const lines = (this.statements.readLogPage.all(runId, from, first) as LogColumns<number>[]).map(logFromRow);
    if (written || lines.length >= first) return lines;
    // Lines that wait for the store are newer than every written line of their run.
    return mergeBySeq(lines, this.drops.waitingLines(this.writes.waiting(), runId, from)).slice(0, first);
  }

  private nextSeq(runId: string): number {
    let last = this.lastSeq.get(runId);
    if (last === undefined) {
      this.flush();
      const stored = (this.statements.maxSeq.get(runId) as { seq: number | null }).seq ?? 0;
      // Lines still waiting for the store have numbers too.
      const waiting = this.writes.size === 0 ? [] : this.writes.waiting().filter((line) => line.runId === runId);
      last = waiting.reduce((max, line) => Math.max(max, line.seq), stored);
    }
    this.lastSeq.set(runId, last + 1);
    return last + 1;
  }

  private writeLogs(batch: readonly LogLine[]): void {
    // A drop notice is written with its text; once written, a later drop starts a new one.
    const { lines, written } = this.drops.prepare(batch);
    this.db.transaction(() => {
      for (const l of lines) this.statements.insertLog.run(l.runId, l.seq, l.stream, l.step, l.line, l.at.getTime());
      for (const runId of new Set(batch.map((l) => l.runId))) this.trim(runId);
    })();
    written();
  }

  /** Deletes a run's oldest lines once it holds a tenth more than its limit. */
  private trim(runId: string): void {
    const last = this.lastSeq.get(runId) ?? (this.statements.maxSeq.get(runId) as { seq: number | null }).seq ?? 0;
    let first = this.firstSeq.get(runId);
    if (first === undefined) {
      first = (this.statements.minSeq.get(runId) as { seq: number | null }).seq ?? 1;
      this.firstSeq.set(runId, first);
    }
    const through = logTrimThrough(first, last, this.options.logLinesPerRun);
    if (through === undefined) return;
    this.statements.trimLogs.run(runId, through);
    this.firstSeq.set(runId, through + 1);
  }
}

function logFromRow(row: LogColumns<number>): LogLine {
  return logFromColumns(row, (ms) => new Date(ms));
}
