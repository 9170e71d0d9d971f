/**
 * Pages of runs by keyset in PostgreSQL, as run-pages.ts does in SQLite: newest first by `ord`
 * (an identity column: it only grows and is never reused, even after pruning), each page the
 * runs below the key the previous one ended at, so pages neither skip nor repeat a run however
 * many are recorded meanwhile, by this node or another. The indexes (status, ord) and
 * (group_id, ord) serve each filter.
 *
 * While the store cannot write, a run's newest snapshot may wait in this node's memory with a
 * status its row does not have yet. Status filters then read those runs' rows whatever their
 * stored status, and decide on the snapshot; a page reads as many more rows as there are such
 * snapshots, so that it is still full when enough runs match.
 */
import type { AgentRun, AgentStatus } from '../../runs/agent-run.js';
import type { KeyedRun, RunFilter, RunPage } from '../../runs/run-store.js';
import type { Queryable } from './pg-database.js';
import { mergeWaiting, runFromRow, type PgRunRow } from './pg-run-rows.js';

export interface PgRunPagesOptions {
  /** The snapshots that wait to be written, by run id (empty while the store writes). */
  readonly waiting: () => ReadonlyMap<string, AgentRun>;
}

/** Where a query starts: below a key (older runs, newest first), or above one (newer runs). */
type Bound = { readonly olderThan?: number; readonly newerThan?: number };

export class PgRunPages {
  constructor(
    private readonly db: Queryable,
    private readonly options: PgRunPagesOptions,
  ) {}

  async page(filter: RunFilter, first: number, olderThan?: number): Promise<RunPage> {
    const [rows, newer] = await Promise.all([
      this.scan(filter, olderThan === undefined ? {} : { olderThan }, first + 1),
      olderThan === undefined ? Promise.resolve([]) : this.scan(filter, { newerThan: olderThan }, 1),
    ]);
    return { runs: rows.slice(0, first), hasNextPage: rows.length > first, hasPreviousPage: newer.length > 0 };
  }

  async count(filter: RunFilter): Promise<number> {
    const before = this.options.waiting();
    const where = conditions(filter, {}, []);
    const { rows } = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM runs ${where.sql}`, where.params);
    const stored = rows[0]?.n ?? 0;
    const { status } = filter;
    const waiting = mergeWaiting(before, this.options.waiting());
    if (!status || waiting.size === 0) return stored;
    // A waiting snapshot counts by its own status, not by its row's.
    const { rows: storedStatuses } = await this.db.query<{ id: string; status: AgentStatus }>(
      'SELECT id, status FROM runs WHERE id = ANY($1::text[])',
      [[...waiting.keys()]],
    );
    let delta = 0;
    for (const row of storedStatuses) {
      const run = waiting.get(row.id);
      if (!run || (filter.groupId !== undefined && run.group.id !== filter.groupId)) continue;
      delta += Number(status.has(run.status)) - Number(status.has(row.status));
    }
    return stored + delta;
  }

  /** Up to `limit` runs matching `filter` beyond `bound`: below it newest first, above it oldest first. */
  private async scan(filter: RunFilter, bound: Bound, limit: number): Promise<KeyedRun[]> {
    const waiting = this.options.waiting();
    const overlay = filter.status !== undefined && waiting.size > 0 ? [...waiting.keys()] : [];
    const where = conditions(filter, bound, overlay);
    const order = bound.newerThan === undefined ? 'DESC' : 'ASC';
    const { rows } = await this.db.query<PgRunRow>(`SELECT * FROM runs ${where.sql} ORDER BY ord ${order} LIMIT $${where.params.length + 1}`, [
      ...where.params,
      limit + overlay.length,
    ]);
    const runs: KeyedRun[] = [];
    // A snapshot that waited before or after the query is newer than its row (see PostgresRunStore.unwrittenSince).
    const unwritten = mergeWaiting(waiting, this.options.waiting());
    for (const row of rows) {
      const run = unwritten.get(row.id) ?? runFromRow(row);
      if (filter.status && !filter.status.has(run.status)) continue;
      runs.push({ run, key: Number(row.ord) });
      if (runs.length === limit) break;
    }
    return runs;
  }
}

/** The WHERE clause of `filter` and `bound`; runs named in `overlay` pass the status condition (decided later). */
function conditions(filter: RunFilter, bound: Bound, overlay: readonly string[]): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  if (filter.status) {
    let clause = `status = ANY(${param([...filter.status])}::text[])`;
    if (overlay.length > 0) clause = `(${clause} OR id = ANY(${param(overlay)}::text[]))`;
    clauses.push(clause);
  }
  if (filter.groupId !== undefined) clauses.push(`group_id = ${param(filter.groupId)}`);
  if (bound.olderThan !== undefined) clauses.push(`ord < ${param(bound.olderThan)}`);
  if (bound.newerThan !== undefined) clauses.push(`ord > ${param(bound.newerThan)}`);
  return { sql: clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`, params };
}
