/**
 * Runs and their logs in SQLite. Status changes are written as they happen; log lines are
 * buffered for a moment and written in batches by the run's log (SqliteRunLog). Reads flush
 * first, so they always see every change and every line.
 *
 * When the database cannot write (a full disk), nothing is thrown at the runs: a run's newest
 * snapshot and its log lines wait in memory, are read from there, and are written when the
 * store's health retry succeeds. Waiting lines are bounded (LOG_PENDING_MAX_CHARS): past that a
 * run's further lines are dropped and one SYSTEM line, in the place of the first dropped one,
 * says how many. Only a new run's insert fails loudly, so that admission can refuse it.
 */
/* eslint-disable @typescript-eslint/require-await -- better-sqlite3 answers at once; the methods are async so that a failure rejects, as RunStore says */
import type { AgentRun, AgentStatus, FailureGroup, LogLine, LogStream } from '../runs/agent-run.js';
import { isFinalStatus } from '../runs/agent-run.js';
import type { RunFilter, RunPage, RunStore } from '../runs/run-store.js';
import { createSilentLogger } from '../logger.js';
import type { SqliteDatabase } from './database.js';
import { FailureGroups } from './failure-groups.js';
import { RunPages } from './run-pages.js';
import { pruneRuns, type RunRetentionOptions } from './run-retention.js';
import { RUN_CHANGE_WRITES, RUN_WRITES, type RunStoreOptions } from './shared/run-log-rules.js';
import { runFromColumns, runToColumns, type ColumnReader, type ColumnWriter, type RunColumns } from './shared/run-rows.js';
import { SqliteRunLog } from './sqlite-run-log.js';
import { StoreHealth } from './store-health.js';
import { WriteBehind } from './write-behind.js';

/** The row that tests whether runs can be inserted again; it never outlives its transaction. */
const PROBE_RUN_ID = 'bosun-write-probe';
/** What {@link RunPages} reads while every run change is written. */
const NOTHING_WAITING: ReadonlyMap<string, AgentRun> = new Map();
const WRITES = RUN_WRITES;

type RunRow = RunColumns<string, number, number>;

/** SQLite holds JSON as text, instants as epoch milliseconds and flags as 0/1. */
const WRITE_COLUMNS: ColumnWriter<string, number, number> = {
  json: (value) => JSON.stringify(value),
  time: (at) => at.getTime(),
  flag: (value) => (value ? 1 : 0),
};
const READ_COLUMNS: ColumnReader<string, number, number> = {
  json: (value) => JSON.parse(value) as unknown,
  time: (ms) => new Date(ms),
  flag: (value) => value === 1,
};

export type SqliteRunStoreOptions = RunStoreOptions;

export class SqliteRunStore implements RunStore {
  /** The latest snapshot of each unfinished run: they are read on every change. */
  private readonly live = new Map<string, AgentRun>();
  private readonly log: SqliteRunLog;
  /** Run snapshots, each written at once unless writes fail; then the newest of each run waits here. */
  private readonly runWrites: WriteBehind<AgentRun>;
  private readonly health: StoreHealth;
  private readonly statements;
  private readonly groups: FailureGroups;
  private readonly pages: RunPages;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly options: SqliteRunStoreOptions,
  ) {
    this.statements = {
      insert: db.prepare(`INSERT INTO runs (id, status, group_id, failure_reason, error, group_json, config_json, container_id, exit_code,
        steps_json, queued_at, started_at, finished_at, retry_of, warm_start, node)
        VALUES (@id, @status, @group_id, @failure_reason, @error, @group_json, @config_json, @container_id, @exit_code,
        @steps_json, @queued_at, @started_at, @finished_at, @retry_of, @warm_start, @node)`),
      update: db.prepare(`UPDATE runs SET status = @status, failure_reason = @failure_reason, error = @error,
        container_id = @container_id, exit_code = @exit_code, steps_json = @steps_json, started_at = @started_at,
        finished_at = @finished_at, warm_start = @warm_start, node = @node WHERE id = @id`),
      get: db.prepare('SELECT * FROM runs WHERE id = ?'),
      listAll: db.prepare('SELECT * FROM runs ORDER BY ord DESC LIMIT ?'),
      unfinished: db.prepare("SELECT * FROM runs WHERE status IN ('QUEUED', 'RUNNING') ORDER BY ord ASC"),
    };
    this.health = options.health ?? new StoreHealth({ logger: createSilentLogger() });
    this.groups = new FailureGroups(db);
    this.pages = new RunPages(db, {
      fromRow: (row) => fromRow(row as unknown as RunRow),
      waiting: () => (this.runWrites.size === 0 ? NOTHING_WAITING : new Map(this.runWrites.waiting().map((run) => [run.id, run]))),
    });
    for (const run of this.readUnfinished()) this.live.set(run.id, run);
    this.log = new SqliteRunLog(db, {
      logLinesPerRun: options.logLinesPerRun,
      ...(options.logPendingMaxChars === undefined ? {} : { logPendingMaxChars: options.logPendingMaxChars }),
      health: this.health,
      writeFault: () => this.writeFault(),
    });
    this.runWrites = new WriteBehind<AgentRun>({
      ...RUN_CHANGE_WRITES,
      write: (batch) =>
        db.transaction(() => {
          for (const run of batch) this.statements.update.run(toRow(run));
        })(),
      health: this.health,
      isOpen: () => db.open,
    });
  }

  /**
   * Records a new run. Rejects when the database cannot write it (nothing is kept then); the
   * fault is reported to the store's health, which tries a write again until one succeeds.
   */
  async insert(run: AgentRun): Promise<void> {
    try {
      // The run and its group's new state, together or not at all.
      this.db.transaction(() => {
        this.statements.insert.run(toRow(run));
        this.groups.record(run.group);
      })();
    } catch (error) {
      this.groups.forget(run.group.id);
      if (!this.health.isFailing(WRITES.newRuns)) this.health.failed(WRITES.newRuns, error, () => this.probeWrite());
      throw error;
    }
    if (!isFinalStatus(run.status)) this.live.set(run.id, run);
    this.log.started(run.id);
  }

  /** Replaces a run with its new snapshot: written now, or kept (and read) until the store writes again. */
  update(run: AgentRun): void {
    this.runWrites.writeNow(run);
    if (isFinalStatus(run.status)) {
      this.live.delete(run.id);
      this.log.finished(run.id);
    } else {
      this.live.set(run.id, run);
    }
  }

  async get(id: string): Promise<AgentRun | undefined> {
    const live = this.live.get(id) ?? this.runWrites.get(id);
    if (live) return live;
    const row = this.statements.get.get(id) as RunRow | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** Why the store cannot write now (what and the error), or null when it can: new runs are refused meanwhile. */
  writeFault(): string | null {
    return this.health.report().error;
  }

  async list(status: ReadonlySet<AgentStatus> | undefined, limit: number): Promise<AgentRun[]> {
    let rows: RunRow[];
    if (!status) rows = this.statements.listAll.all(limit) as RunRow[];
    else {
      const marks = [...status].map(() => '?').join(', ');
      rows = this.db.prepare(`SELECT * FROM runs WHERE status IN (${marks}) ORDER BY ord DESC LIMIT ?`).all(...status, limit) as RunRow[];
    }
    // Snapshots not yet written are newer than their rows.
    const runs = rows.map((row) => this.runWrites.get(row.id) ?? fromRow(row));
    if (!status) return runs;
    const listed = runs.filter((run) => status.has(run.status));
    const ids = new Set(listed.map((run) => run.id));
    const unwritten = this.runWrites.size === 0 ? [] : this.runWrites.waiting().filter((run) => status.has(run.status) && !ids.has(run.id));
    if (unwritten.length === 0) return listed;
    // Newest first, as the rows: runs are inserted in the order they were queued.
    return [...listed, ...unwritten].sort((a, b) => b.queuedAt.getTime() - a.queuedAt.getTime()).slice(0, limit);
  }

  async page(filter: RunFilter, first: number, olderThan?: number): Promise<RunPage> {
    // Written first where it can be, so that the rows hold every run's status.
    this.runWrites.flush();
    return this.pages.page(filter, first, olderThan);
  }

  async count(filter: RunFilter): Promise<number> {
    this.runWrites.flush();
    return this.pages.count(filter);
  }

  async group(id: string): Promise<FailureGroup | undefined> {
    return this.groups.get(id);
  }

  async unfinished(): Promise<AgentRun[]> {
    return this.readUnfinished();
  }

  private readUnfinished(): AgentRun[] {
    return (this.statements.unfinished.all() as RunRow[]).map(fromRow);
  }

  appendLog(runId: string, stream: LogStream, step: number | null, line: string): LogLine {
    return this.log.append(runId, stream, step, line);
  }

  async readLogs(runId: string, afterSeq = 0, last?: number, first?: number): Promise<LogLine[]> {
    return this.log.read(runId, afterSeq, last, first);
  }

  /**
   * Writes buffered log lines and run changes now. False when some could not be written: they
   * stay in memory, and the store's health retries them.
   */
  async flush(): Promise<boolean> {
    return this.flushNow();
  }

  /** {@link flush}, synchronously: what this store's own reads and pruning write first. */
  private flushNow(): boolean {
    const runs = this.runWrites.flush();
    return this.log.flush() && runs;
  }

  /**
   * Drops old finished runs with everything recorded about them (see {@link pruneRuns}), after
   * writing buffered lines so none is left pointing at a deleted run: while they cannot be
   * written, nothing is pruned (returns 0).
   */
  prune(options: RunRetentionOptions, now: number = Date.now()): number {
    if (!this.flushNow()) return 0;
    const pruned = pruneRuns(this.db, options, now);
    if (pruned > 0) this.groups.clearCache();
    return pruned;
  }

  /**
   * Whether a run can be inserted again (after a refused insert): a row inserted and deleted in
   * one committed transaction, so it writes what an insert writes and leaves nothing.
   */
  private probeWrite(): void {
    this.db.transaction(() => {
      this.db
        .prepare("INSERT INTO runs (id, status, group_json, config_json, steps_json, queued_at) VALUES (?, 'FAILED', '{}', '{}', '[]', 0)")
        .run(PROBE_RUN_ID);
      this.db.prepare('DELETE FROM runs WHERE id = ?').run(PROBE_RUN_ID);
    })();
  }
}

function toRow(run: AgentRun): RunRow {
  return runToColumns(run, WRITE_COLUMNS);
}

function fromRow(row: RunRow): AgentRun {
  return runFromColumns(row, READ_COLUMNS);
}
