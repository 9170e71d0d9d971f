/**
 * Runs and their logs in SQLite. Status changes are written as they happen; log lines are
 * buffered for a moment and written in one transaction per batch, so a step printing thousands
 * of lines costs a few transactions, not thousands, and never blocks the event loop for long.
 * Reads flush the buffer first, so they always see every line.
 */
import type { AgentRun, AgentStatus, LogLine, LogStream, StepResult } from '../runs/agent-run.js';
import { isFinalStatus } from '../runs/agent-run.js';
import type { RunStore } from '../runs/run-store.js';
import type { SqliteDatabase } from './database.js';
import { pruneRuns, type RunRetentionOptions } from './run-retention.js';
import { WriteBehind } from './write-behind.js';

/** Flush at once when this many lines are waiting. */
const LOG_BATCH_LINES = 512;

interface RunRow {
  id: string;
  status: string;
  failure_reason: string | null;
  error: string | null;
  group_json: string;
  config_json: string;
  container_id: string | null;
  exit_code: number | null;
  steps_json: string;
  queued_at: number;
  started_at: number | null;
  finished_at: number | null;
  retry_of: string | null;
}

interface LogRow {
  run_id: string;
  seq: number;
  stream: string;
  step: number | null;
  line: string;
  at: number;
}

export interface SqliteRunStoreOptions {
  /** Lines kept per run; the oldest go first. */
  readonly logLinesPerRun: number;
}

export class SqliteRunStore implements RunStore {
  /** The latest snapshot of each unfinished run: they are read on every change. */
  private readonly live = new Map<string, AgentRun>();
  private readonly lastSeq = new Map<string, number>();
  /** The lowest sequence number still stored per run, to trim in steps rather than per line. */
  private readonly firstSeq = new Map<string, number>();
  private readonly logWrites: WriteBehind<LogLine>;
  private readonly statements;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly options: SqliteRunStoreOptions,
  ) {
    this.statements = {
      insert: db.prepare(`INSERT INTO runs (id, status, failure_reason, error, group_json, config_json, container_id, exit_code,
        steps_json, queued_at, started_at, finished_at, retry_of)
        VALUES (@id, @status, @failure_reason, @error, @group_json, @config_json, @container_id, @exit_code,
        @steps_json, @queued_at, @started_at, @finished_at, @retry_of)`),
      update: db.prepare(`UPDATE runs SET status = @status, failure_reason = @failure_reason, error = @error,
        container_id = @container_id, exit_code = @exit_code, steps_json = @steps_json, started_at = @started_at,
        finished_at = @finished_at WHERE id = @id`),
      get: db.prepare('SELECT * FROM runs WHERE id = ?'),
      listAll: db.prepare('SELECT * FROM runs ORDER BY ord DESC LIMIT ?'),
      unfinished: db.prepare("SELECT * FROM runs WHERE status IN ('QUEUED', 'RUNNING') ORDER BY ord ASC"),
      insertLog: db.prepare('INSERT INTO logs (run_id, seq, stream, step, line, at) VALUES (?, ?, ?, ?, ?, ?)'),
      maxSeq: db.prepare('SELECT max(seq) AS seq FROM logs WHERE run_id = ?'),
      minSeq: db.prepare('SELECT min(seq) AS seq FROM logs WHERE run_id = ?'),
      trimLogs: db.prepare('DELETE FROM logs WHERE run_id = ? AND seq <= ?'),
      readLogs: db.prepare('SELECT * FROM logs WHERE run_id = ? AND seq > ? ORDER BY seq ASC'),
      readLastLogs: db.prepare('SELECT * FROM (SELECT * FROM logs WHERE run_id = ? AND seq > ? ORDER BY seq DESC LIMIT ?) ORDER BY seq ASC'),
      readLogPage: db.prepare('SELECT * FROM logs WHERE run_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?'),
    };
    for (const run of this.unfinished()) this.live.set(run.id, run);
    this.logWrites = new WriteBehind<LogLine>(
      LOG_BATCH_LINES,
      (batch) =>
        db.transaction(() => {
          for (const l of batch) this.statements.insertLog.run(l.runId, l.seq, l.stream, l.step, l.line, l.at.getTime());
          for (const runId of new Set(batch.map((l) => l.runId))) this.trim(runId);
        })(),
      () => db.open,
    );
  }

  insert(run: AgentRun): void {
    this.statements.insert.run(toRow(run));
    if (!isFinalStatus(run.status)) this.live.set(run.id, run);
    this.lastSeq.set(run.id, 0);
  }

  update(run: AgentRun): void {
    this.statements.update.run(toRow(run));
    if (isFinalStatus(run.status)) {
      this.live.delete(run.id);
      this.lastSeq.delete(run.id);
      this.firstSeq.delete(run.id);
    } else {
      this.live.set(run.id, run);
    }
  }

  get(id: string): AgentRun | undefined {
    const live = this.live.get(id);
    if (live) return live;
    const row = this.statements.get.get(id) as RunRow | undefined;
    return row ? fromRow(row) : undefined;
  }

  list(status: ReadonlySet<AgentStatus> | undefined, limit: number): AgentRun[] {
    if (!status) return (this.statements.listAll.all(limit) as RunRow[]).map(fromRow);
    const marks = [...status].map(() => '?').join(', ');
    const rows = this.db.prepare(`SELECT * FROM runs WHERE status IN (${marks}) ORDER BY ord DESC LIMIT ?`).all(...status, limit) as RunRow[];
    return rows.map(fromRow);
  }

  unfinished(): AgentRun[] {
    return (this.statements.unfinished.all() as RunRow[]).map(fromRow);
  }

  appendLog(runId: string, stream: LogStream, step: number | null, line: string): LogLine {
    const seq = this.nextSeq(runId);
    const entry: LogLine = Object.freeze({ runId, seq, stream, step, line, at: new Date() });
    this.logWrites.push(entry);
    return entry;
  }

  readLogs(runId: string, afterSeq = 0, last?: number, first?: number): LogLine[] {
    if (first !== undefined && last === undefined) return this.readLogPage(runId, afterSeq, first);
    this.flush();
    const rows = (
      last === undefined ? this.statements.readLogs.all(runId, afterSeq) : this.statements.readLastLogs.all(runId, afterSeq, last)
    ) as LogRow[];
    const newest = rows.at(-1)?.seq ?? 0;
    // Trimming runs in steps: hide what is past the per-run limit but not yet deleted.
    const oldestKept = newest - this.options.logLinesPerRun;
    const kept = rows.filter((row) => row.seq > oldestKept).map(logFromRow);
    return first === undefined ? kept : kept.slice(0, first);
  }

  /** The first `first` lines after `afterSeq`: one page, read without reading the rest. */
  private readLogPage(runId: string, afterSeq: number, first: number): LogLine[] {
    this.flush();
    const newest = this.lastSeq.get(runId) ?? (this.statements.maxSeq.get(runId) as { seq: number | null }).seq ?? 0;
    // As above: what is past the per-run limit but not yet deleted is not read.
    const from = Math.max(afterSeq, newest - this.options.logLinesPerRun);
    return (this.statements.readLogPage.all(runId, from, first) as LogRow[]).map(logFromRow);
  }

  /** Writes buffered log lines now. */
  flush(): void {
    this.logWrites.flush();
  }

  /**
   * Drops old finished runs with everything recorded about them (see {@link pruneRuns}), after
   * writing buffered lines so none is left pointing at a deleted run.
   */
  prune(options: RunRetentionOptions, now: number = Date.now()): number {
    this.flush();
    return pruneRuns(this.db, options, now);
  }

  private nextSeq(runId: string): number {
    let last = this.lastSeq.get(runId);
    if (last === undefined) {
      this.flush();
      last = ((this.statements.maxSeq.get(runId) as { seq: number | null }).seq ?? 0) as number;
    }
    this.lastSeq.set(runId, last + 1);
    return last + 1;
  }

  /** Deletes a run's oldest lines once it holds a tenth more than its limit. */
  private trim(runId: string): void {
    const last = this.lastSeq.get(runId) ?? (this.statements.maxSeq.get(runId) as { seq: number | null }).seq ?? 0;
    let first = this.firstSeq.get(runId);
    if (first === undefined) {
      first = ((this.statements.minSeq.get(runId) as { seq: number | null }).seq ?? 1) as number;
      this.firstSeq.set(runId, first);
    }
    const limit = this.options.logLinesPerRun;
    if (last - first + 1 <= limit + Math.ceil(limit / 10)) return;
    this.statements.trimLogs.run(runId, last - limit);
    this.firstSeq.set(runId, last - limit + 1);
  }
}

function toRow(run: AgentRun): RunRow {
  return {
    id: run.id,
    status: run.status,
    failure_reason: run.failureReason,
    error: run.error,
    group_json: JSON.stringify(run.group),
    config_json: JSON.stringify(run.config),
    container_id: run.containerId,
    exit_code: run.exitCode,
    steps_json: JSON.stringify(run.steps),
    queued_at: run.queuedAt.getTime(),
    started_at: run.startedAt?.getTime() ?? null,
    finished_at: run.finishedAt?.getTime() ?? null,
    retry_of: run.retryOf,
  };
}

function fromRow(row: RunRow): AgentRun {
  const steps = (
    JSON.parse(row.steps_json) as Array<Omit<StepResult, 'startedAt' | 'finishedAt'> & { startedAt: string | null; finishedAt: string | null }>
  ).map((step): StepResult => ({
    ...step,
    startedAt: step.startedAt === null ? null : new Date(step.startedAt),
    finishedAt: step.finishedAt === null ? null : new Date(step.finishedAt),
  }));
  return Object.freeze({
    id: row.id,
    status: row.status as AgentStatus,
    failureReason: row.failure_reason as AgentRun['failureReason'],
    error: row.error,
    group: JSON.parse(row.group_json) as AgentRun['group'],
    config: JSON.parse(row.config_json) as AgentRun['config'],
    containerId: row.container_id,
    exitCode: row.exit_code,
    steps,
    queuedAt: new Date(row.queued_at),
    startedAt: row.started_at === null ? null : new Date(row.started_at),
    finishedAt: row.finished_at === null ? null : new Date(row.finished_at),
    retryOf: row.retry_of,
  });
}

function logFromRow(row: LogRow): LogLine {
  return Object.freeze({
    runId: row.run_id,
    seq: row.seq,
    stream: row.stream as LogStream,
    step: row.step,
    line: row.line,
    at: new Date(row.at),
  });
}
