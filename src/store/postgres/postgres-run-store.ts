/**
 * Runs and their logs in PostgreSQL, shared by every node of a cluster (issue 17), with the
 * semantics of SqliteRunStore behind the asynchronous RunStore contract.
 *
 * - A new run is written before `insert` resolves (with its failure group, in one transaction).
 * - A run's changes and its log lines are write-behind (AsyncWriteBehind): `update` and
 *   `appendLog` return at once; changes are written as soon as possible, log lines in batches of
 *   one multi-row INSERT each. Until written, they are read from memory: every read waits for
 *   what is being written and overlays what could not be.
 * - When PostgreSQL cannot write (down, restarting), nothing is thrown at the runs: snapshots and
 *   lines wait in memory (lines bounded by LOG_PENDING_MAX_CHARS, past which a SYSTEM line counts
 *   what was dropped, as in SQLite), the store's health retries with a backoff and reports the
 *   fault through writeFault(). Only a new run's insert fails loudly, so that admission refuses it.
 *
 * Log sequence numbers are given in memory, synchronously (the contract's appendLog), by the one
 * node that writes a run's log: see pg-log-numbering.ts. Appending to a run the node has neither
 * inserted nor read is a wiring error and throws.
 */
import { randomUUID } from 'node:crypto';
import type { AgentRun, AgentStatus, FailureGroup, LogLine, LogStream } from '../../runs/agent-run.js';
import { isFinalStatus } from '../../runs/agent-run.js';
import type { RunFilter, RunPage, RunStore } from '../../runs/run-store.js';
import { createSilentLogger } from '../../logger.js';
import type { RunRetentionOptions } from '../run-retention.js';
import {
  LOG_PENDING_MAX_CHARS,
  LOG_WRITES,
  LogDrops,
  logTrimThrough,
  mergeBySeq,
  RUN_CHANGE_WRITES,
  RUN_WRITES,
  withinLogLimit,
  type RunStoreOptions,
} from '../shared/run-log-rules.js';
import { StoreHealth } from '../store-health.js';
import { AsyncWriteBehind } from './async-write-behind.js';
import type { PostgresDatabase, Queryable } from './pg-database.js';
import { LogNumbering } from './pg-log-numbering.js';
import { readFailureGroup, recordFailureGroup } from './pg-failure-groups.js';
import { PgRunPages } from './pg-run-pages.js';
import { prunePgRuns } from './pg-run-retention.js';
import {
  insertParams,
  LOG_INSERT_SQL,
  mergeWaiting,
  logFromRow,
  logParams,
  RUN_INSERT_SQL,
  RUN_UPDATE_SQL,
  runFromRow,
  updateParams,
  type PgLogRow,
  type PgRunRow,
} from './pg-run-rows.js';

/** What {@link PgRunPages} reads while every run change is written. */
const NOTHING_WAITING: ReadonlyMap<string, AgentRun> = new Map();
const WRITES = RUN_WRITES;
/** How often a batch's lines are numbered again when another node keeps taking their seq, before the batch fails (and is retried). */
const LOG_RENUMBER_ATTEMPTS = 5;
const RUN_WITH_LAST_SEQ = 'SELECT r.*, (SELECT max(seq) FROM logs l WHERE l.run_id = r.id) AS last_seq FROM runs r';

export type PostgresRunStoreOptions = RunStoreOptions;

export class PostgresRunStore implements RunStore {
  private readonly numbering = new LogNumbering();
  /** The lowest seq still stored per open run, to trim in steps rather than per line. */
  private readonly firstSeq = new Map<string, number>();
  private readonly logWrites: AsyncWriteBehind<LogLine>;
  /** Run snapshots, written as soon as possible; the newest of each run waits here until written. */
  private readonly runWrites: AsyncWriteBehind<AgentRun>;
  private readonly drops: LogDrops;
  private readonly health: StoreHealth;
  private readonly pages: PgRunPages;

  constructor(
    private readonly db: PostgresDatabase,
    private readonly options: PostgresRunStoreOptions,
  ) {
    this.health = options.health ?? new StoreHealth({ logger: createSilentLogger() });
    this.drops = new LogDrops({ health: this.health, writeFault: () => this.writeFault() });
    this.pages = new PgRunPages(db, { waiting: () => this.waitingRuns() });
    this.logWrites = new AsyncWriteBehind<LogLine>({
      ...LOG_WRITES,
      write: (batch) => this.writeLogs(batch),
      maxPending: options.logPendingMaxChars ?? LOG_PENDING_MAX_CHARS,
      health: this.health,
      isOpen: () => db.open,
    });
    this.runWrites = new AsyncWriteBehind<AgentRun>({
      ...RUN_CHANGE_WRITES,
      write: async (batch) => {
        await db.query(RUN_UPDATE_SQL, updateParams(batch));
      },
      health: this.health,
      isOpen: () => db.open,
    });
  }

  /**
   * Records a new run, with its failure group, in one transaction; resolves once committed.
   * Rejects when the database cannot write it (nothing is kept then); the fault is reported to
   * the store's health, which tries a write again until one succeeds.
   */
  async insert(run: AgentRun): Promise<void> {
    try {
      await this.db.transaction(async (client) => {
        await client.query(RUN_INSERT_SQL, insertParams(run));
        await recordFailureGroup(client, run.group);
      });
    } catch (error) {
      if (!this.health.isFailing(WRITES.newRuns)) this.health.failed(WRITES.newRuns, error, () => this.probeWrite());
      throw error;
    }
    // A run inserted finished (refused at admission) may still get a line.
    this.numbering.started(run.id, isFinalStatus(run.status));
  }

  /** Replaces a run with its new snapshot: written as soon as possible, read from memory until then. */
  update(run: AgentRun): void {
    this.runWrites.writeSoon(run);
    if (!isFinalStatus(run.status)) return;
    this.numbering.finished(run.id);
    this.firstSeq.delete(run.id);
  }

  async get(id: string): Promise<AgentRun | undefined> {
    const waiting = this.runWrites.get(id);
    if (waiting) return waiting;
    const { rows } = await this.db.query<PgRunRow & { last_seq: number | null }>(`${RUN_WITH_LAST_SEQ} WHERE r.id = $1`, [id]);
    const row = rows[0];
    if (!row) return this.runWrites.get(id);
    const run = runFromRow(row);
    if (!isFinalStatus(run.status)) this.numbering.stored(id, row.last_seq ?? 0);
    // A change made while the row was read is newer than it.
    return this.runWrites.get(id) ?? run;
  }

  /** Why the store cannot write now (what and the error), or null when it can: new runs are refused meanwhile. */
  writeFault(): string | null {
    return this.health.report().error;
  }

  /**
   * Newest first. Snapshots waiting to be written are newer than their rows: a status filter
   * reads their rows whatever their stored status and decides on the snapshot (as pages do), so
   * the order stays the rows' order.
   */
  async list(status: ReadonlySet<AgentStatus> | undefined, limit: number): Promise<AgentRun[]> {
    const newest = this.unwrittenSince();
    const overlay = status ? [...this.waitingRuns().keys()] : [];
    const { rows } = status
      ? await this.db.query<PgRunRow>('SELECT * FROM runs WHERE status = ANY($1::text[]) OR id = ANY($2::text[]) ORDER BY ord DESC LIMIT $3', [
          [...status],
          overlay,
          limit + overlay.length,
        ])
      : await this.db.query<PgRunRow>('SELECT * FROM runs ORDER BY ord DESC LIMIT $1', [limit]);
    const unwritten = newest();
    const runs = rows.map((row) => unwritten.get(row.id) ?? runFromRow(row));
    return status ? runs.filter((run) => status.has(run.status)).slice(0, limit) : runs;
  }

  async page(filter: RunFilter, first: number, olderThan?: number): Promise<RunPage> {
    // Written first where it can be, so that the rows hold every run's status.
    await this.runWrites.flush();
    return this.pages.page(filter, first, olderThan);
  }

  async count(filter: RunFilter): Promise<number> {
    await this.runWrites.flush();
    return this.pages.count(filter);
  }

  group(id: string): Promise<FailureGroup | undefined> {
    return readFailureGroup(this.db, id);
  }

  /** Runs that are QUEUED or RUNNING, in queue order (oldest first): what a recovery takes over. */
  async unfinished(): Promise<AgentRun[]> {
    await this.runWrites.flush();
    const newest = this.unwrittenSince();
    const { rows } = await this.db.query<PgRunRow & { last_seq: number | null }>(
      `${RUN_WITH_LAST_SEQ} WHERE r.status IN ('QUEUED', 'RUNNING') ORDER BY r.ord ASC`,
    );
    const unwritten = newest();
    const runs: AgentRun[] = [];
    for (const row of rows) {
      // A snapshot that was not written when the rows were read is the run's state.
      const run = unwritten.get(row.id) ?? runFromRow(row);
      if (isFinalStatus(run.status)) continue;
      this.numbering.stored(run.id, row.last_seq ?? 0);
      runs.push(run);
    }
    return runs;
  }

  /**
   * Records a line; its seq is the run's next (see the file's comment).
   * @throws BosunError INVALID_STATE when this node has neither inserted nor read the run.
   */
  appendLog(runId: string, stream: LogStream, step: number | null, line: string): LogLine {
    const seq = this.numbering.next(runId);
    const entry: LogLine = Object.freeze({ runId, seq, stream, step, line, at: new Date() });
    if (!this.logWrites.push(entry) && this.drops.drop(entry)) this.logWrites.push(entry, true);
    return entry;
  }

  async readLogs(runId: string, afterSeq = 0, last?: number, first?: number): Promise<LogLine[]> {
    if (first !== undefined && last === undefined) return this.readLogPage(runId, afterSeq, first);
    const written = await this.flush();
    const { rows } =
      last === undefined
        ? await this.db.query<PgLogRow>('SELECT * FROM logs WHERE run_id = $1 AND seq > $2 ORDER BY seq ASC', [runId, afterSeq])
        : await this.db.query<PgLogRow>(
            'SELECT * FROM (SELECT * FROM logs WHERE run_id = $1 AND seq > $2 ORDER BY seq DESC LIMIT $3) newest ORDER BY seq ASC',
            [runId, afterSeq, last],
          );
    let lines = rows.map(logFromRow);
    if (!written) {
      lines = mergeBySeq(lines, this.waitingLines(runId, afterSeq));
      if (last !== undefined) lines = lines.slice(Math.max(0, lines.length - last));
    }
    const kept = withinLogLimit(lines, this.options.logLinesPerRun);
    return first === undefined ? kept : kept.slice(0, first);
  }

  /**
   * Writes buffered log lines and run changes now. Resolves false when some could not be
   * written: they stay in memory, and the store's health retries them. Never rejects.
   */
  async flush(): Promise<boolean> {
    const [runs, logs] = await Promise.all([this.runWrites.flush(), this.logWrites.flush()]);
    return runs && logs;
  }

  /**
   * Drops old finished runs with everything recorded about them (see pg-run-retention.ts), after
   * writing buffered lines so none is left pointing at a deleted run: while they cannot be
   * written, nothing is pruned (resolves 0).
   */
  async prune(options: RunRetentionOptions, now: number = Date.now()): Promise<number> {
    if (!(await this.flush())) return 0;
    return prunePgRuns(this.db, options, now);
  }

  /** The first `first` lines after `afterSeq`: one page, read without reading the rest. */
  private async readLogPage(runId: string, afterSeq: number, first: number): Promise<LogLine[]> {
    const written = await this.flush();
    // What is past the per-run limit but not yet deleted is not read: the newest seq is the
    // stored one, or this node's if it has unwritten lines.
    const { rows } = await this.db.query<PgLogRow>(
      `SELECT * FROM logs WHERE run_id = $1
         AND seq > greatest($2::integer, greatest((SELECT max(seq) FROM logs WHERE run_id = $1), $3::integer) - $4::integer)
       ORDER BY seq ASC LIMIT $5`,
      [runId, afterSeq, written ? 0 : (this.numbering.last(runId) ?? 0), this.options.logLinesPerRun, first],
    );
    const lines = rows.map(logFromRow);
    if (written || lines.length >= first) return lines;
    const newest = Math.max(lines.at(-1)?.seq ?? 0, ...this.waitingLines(runId, afterSeq).map((l) => l.seq));
    const from = Math.max(afterSeq, newest - this.options.logLinesPerRun);
    return mergeBySeq(lines, this.waitingLines(runId, from)).slice(0, first);
  }

  /** Lines of a run that wait for the store (newer than every written line of it), as they will be stored. */
  private waitingLines(runId: string, afterSeq: number): LogLine[] {
    if (this.logWrites.size === 0) return [];
    return this.drops.waitingLines(this.logWrites.waiting(), runId, afterSeq);
  }

  private waitingRuns(): ReadonlyMap<string, AgentRun> {
    return this.runWrites.size === 0 ? NOTHING_WAITING : new Map(this.runWrites.waiting().map((run) => [run.id, run]));
  }

  /**
   * Call before a query; the function it returns, called after, gives every snapshot that waited
   * at either time, the newest of each run. A snapshot written while the query ran may or may
   * not be in its rows, but is never older than them: it is what the run is.
   */
  private unwrittenSince(): () => ReadonlyMap<string, AgentRun> {
    const before = this.waitingRuns();
    return () => mergeWaiting(before, this.waitingRuns());
  }

  /**
   * One batch: one multi-row INSERT, and the trimming of its runs' oldest lines, in one transaction.
   *
   * Two nodes may number one run's lines at once: the node that admitted a run writes its line
   * about entering the line just as another node takes the run, and that node read the run before
   * the line was stored. A line whose seq is taken by another line goes after the run's stored
   * lines, and this node numbers on from there; failing the batch instead would fail it again on
   * every retry, and the node would refuse new runs for good (the store cannot write). Such a line
   * was published with the seq it was given: only a log read afresh shows where it was stored. A
   * seq taken by the same line (a commit whose answer was lost, written again) is left as it is.
   */
  private async writeLogs(batch: readonly LogLine[]): Promise<void> {
    // A drop notice is written with its text; once written, a later drop starts a new one.
    const { lines: stored, written } = this.drops.prepare(batch);
    const newest = new Map<string, number>();
    const moved = new Set<string>();
    await this.db.transaction(async (client) => {
      let left = stored;
      for (let attempt = 1; left.length > 0; attempt += 1) {
        if (attempt > LOG_RENUMBER_ATTEMPTS)
          throw new Error(`log lines of run ${left[0]!.runId}: their seq was taken ${LOG_RENUMBER_ATTEMPTS} times`);
        const { rows } = await client.query<{ run_id: string; seq: number }>(LOG_INSERT_SQL, logParams(left));
        const inserted = new Set(rows.map((row) => `${row.run_id} ${row.seq}`));
        // Per run, the first of its lines whose seq another line took; lines stored already as
        // they are (a commit whose answer was lost) stay where they are.
        const firstTaken = new Map<string, number>();
        const storedAlready = new Set<LogLine>();
        for (const l of left) {
          if (inserted.has(`${l.runId} ${l.seq}`)) continue;
          if (await this.isStored(client, l)) storedAlready.add(l);
          else if (!firstTaken.has(l.runId)) firstTaken.set(l.runId, l.seq);
        }
        // That line and the run's later lines of the batch move together, in their order: moving
        // only the line would store it after the lines that followed it.
        const taken = left.filter((l) => {
          const first = firstTaken.get(l.runId);
          return first !== undefined && l.seq >= first && !storedAlready.has(l);
        });
        const insertedTaken = taken.filter((l) => inserted.has(`${l.runId} ${l.seq}`));
        if (insertedTaken.length > 0) {
          await client.query('DELETE FROM logs WHERE (run_id, seq) IN (SELECT * FROM unnest($1::text[], $2::integer[]))', [
            insertedTaken.map((l) => l.runId),
            insertedTaken.map((l) => l.seq),
          ]);
        }
        const moving = new Set(taken);
        for (const l of left) if (!moving.has(l)) newest.set(l.runId, Math.max(newest.get(l.runId) ?? 0, l.seq));
        for (const l of taken) moved.add(l.runId);
        left = await this.renumbered(client, taken);
      }
      for (const [runId, last] of newest) await this.trim(client, runId, last);
    });
    for (const runId of moved) this.numbering.stored(runId, newest.get(runId) ?? 0);
    written();
  }

  /** Whether this very line is stored at its seq already. */
  private async isStored(client: Queryable, l: LogLine): Promise<boolean> {
    const { rows } = await client.query<PgLogRow>('SELECT * FROM logs WHERE run_id = $1 AND seq = $2', [l.runId, l.seq]);
    const row = rows[0];
    if (!row) return false;
    const found = logFromRow(row);
    return found.stream === l.stream && found.step === l.step && found.line === l.line && found.at.getTime() === l.at.getTime();
  }

  /** Lines whose seq another line took, numbered after their run's stored lines, in their order. */
  private async renumbered(client: Queryable, taken: readonly LogLine[]): Promise<LogLine[]> {
    const next = new Map<string, number>();
    const lines: LogLine[] = [];
    for (const l of taken) {
      let seq = next.get(l.runId);
      if (seq === undefined) {
        const { rows } = await client.query<{ seq: number | null }>('SELECT max(seq) AS seq FROM logs WHERE run_id = $1', [l.runId]);
        seq = rows[0]?.seq ?? 0;
      }
      next.set(l.runId, seq + 1);
      lines.push(Object.freeze({ ...l, seq: seq + 1 }));
    }
    return lines;
  }

  /** Deletes a run's oldest lines once it holds a tenth more than its limit. */
  private async trim(client: Queryable, runId: string, last: number): Promise<void> {
    let first = this.firstSeq.get(runId);
    if (first === undefined) {
      const { rows } = await client.query<{ seq: number | null }>('SELECT min(seq) AS seq FROM logs WHERE run_id = $1', [runId]);
      first = rows[0]?.seq ?? 1;
      // Only remembered for a run whose log this node writes (forgotten when it finishes).
      if (this.numbering.isOpen(runId)) this.firstSeq.set(runId, first);
    }
    const through = logTrimThrough(first, last, this.options.logLinesPerRun);
    if (through === undefined) return;
    await client.query('DELETE FROM logs WHERE run_id = $1 AND seq <= $2', [runId, through]);
    if (this.numbering.isOpen(runId)) this.firstSeq.set(runId, through + 1);
  }

  /**
   * Whether a run can be inserted again (after a refused insert): a row inserted and deleted in
   * one committed transaction, so it writes what an insert writes and leaves nothing.
   */
  private async probeWrite(): Promise<void> {
    const id = `bosun-write-probe-${randomUUID()}`;
    await this.db.transaction(async (client) => {
      await client.query(
        `INSERT INTO runs (id, status, group_id, group_json, config_json, steps_json, queued_at) VALUES ($1, 'FAILED', '', '{}', '{}', '[]', now())`,
        [id],
      );
      await client.query('DELETE FROM runs WHERE id = $1', [id]);
    });
  }
}
