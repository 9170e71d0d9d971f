/**
 * Pages of runs by keyset: newest first by `ord` (the runs table's AUTOINCREMENT key, so it only
 * grows and is never reused, even after pruning), each page the runs below the key the previous
 * one ended at. A run recorded between two pages is newer than both and so in neither: pages
 * neither skip nor repeat a run, however many are recorded meanwhile. The indexes (status, ord)
 * and (group_id, ord) serve each filter.
 *
 * While the store cannot write, a run's newest snapshot may wait in memory with a status its row
 * does not have yet (see SqliteRunStore). Status filters then read those runs' rows whatever their
 * stored status, and decide on the snapshot; a page reads as many more rows as there are such
 * snapshots, so that it is still full when enough runs match.
 */
import type { AgentRun } from '../runs/agent-run.js';
import type { KeyedRun, RunFilter, RunPage } from '../runs/run-store.js';
import type { SqliteDatabase } from './database.js';

/** A stored run's row (the columns the caller's `fromRow` reads, and `ord`). */
export type RunRowWithKey = Record<string, unknown> & { readonly id: string; readonly ord: number };

export interface RunPagesOptions {
  /** Turns a row into the run it stores. */
  readonly fromRow: (row: RunRowWithKey) => AgentRun;
  /** The snapshots that wait to be written, by run id (empty while the store writes). */
  readonly waiting: () => ReadonlyMap<string, AgentRun>;
}

/** Where a query starts: below a key (older runs, newest first), or above one (newer runs). */
type Bound = { readonly olderThan?: number; readonly newerThan?: number };

export class RunPages {
  constructor(
    private readonly db: SqliteDatabase,
    private readonly options: RunPagesOptions,
  ) {}

  page(filter: RunFilter, first: number, olderThan?: number): RunPage {
    const rows = this.scan(filter, olderThan === undefined ? {} : { olderThan }, first + 1);
    const hasPreviousPage = olderThan !== undefined && this.scan(filter, { newerThan: olderThan }, 1).length > 0;
    return { runs: rows.slice(0, first), hasNextPage: rows.length > first, hasPreviousPage };
  }

  count(filter: RunFilter): number {
    const where = conditions(filter, {}, []);
    const stored = (this.db.prepare(`SELECT count(*) AS n FROM runs ${where.sql}`).get(...where.params) as { n: number }).n;
    const { status } = filter;
    const waiting = this.options.waiting();
    if (!status || waiting.size === 0) return stored;
    // A waiting snapshot counts by its own status, not by its row's.
    let delta = 0;
    const storedStatus = this.db.prepare('SELECT status FROM runs WHERE id = ?').pluck();
    for (const run of waiting.values()) {
      if (filter.groupId !== undefined && run.group.id !== filter.groupId) continue;
      const row = storedStatus.get(run.id) as string | undefined;
      if (row === undefined) continue;
      delta += Number(status.has(run.status)) - Number(status.has(row as AgentRun['status']));
    }
    return stored + delta;
  }

  /** Up to `limit` runs matching `filter` beyond `bound`: below it newest first, above it oldest first. */
  private scan(filter: RunFilter, bound: Bound, limit: number): KeyedRun[] {
    const waiting = this.options.waiting();
    const overlay = filter.status !== undefined && waiting.size > 0 ? [...waiting.keys()] : [];
    const where = conditions(filter, bound, overlay);
    const order = bound.newerThan === undefined ? 'DESC' : 'ASC';
    const rows = this.db
      .prepare(`SELECT * FROM runs ${where.sql} ORDER BY ord ${order} LIMIT ?`)
      .all(...where.params, limit + overlay.length) as RunRowWithKey[];
    const runs: KeyedRun[] = [];
    for (const row of rows) {
      const run = waiting.get(row.id) ?? this.options.fromRow(row);
      if (filter.status && !filter.status.has(run.status)) continue;
      runs.push({ run, key: row.ord });
      if (runs.length === limit) break;
    }
    return runs;
  }
}

/** The WHERE clause of `filter` and `bound`; runs named in `overlay` pass the status condition (decided later). */
function conditions(filter: RunFilter, bound: Bound, overlay: readonly string[]): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (filter.status) {
    const statuses = [...filter.status];
    let clause = `status IN (${statuses.map(() => '?').join(', ')})`;
    params.push(...statuses);
    if (overlay.length > 0) {
      clause = `(${clause} OR id IN (${overlay.map(() => '?').join(', ')}))`;
      params.push(...overlay);
    }
    clauses.push(clause);
  }
  if (filter.groupId !== undefined) {
    clauses.push('group_id = ?');
    params.push(filter.groupId);
  }
  if (bound.olderThan !== undefined) {
    clauses.push('ord < ?');
    params.push(bound.olderThan);
  }
  if (bound.newerThan !== undefined) {
    clauses.push('ord > ?');
    params.push(bound.newerThan);
  }
  return { sql: clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`, params };
}
