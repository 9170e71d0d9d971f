/**
 * Failure groups as entities: the client names a group by its id in every startAgent, and may
 * give it a different name or other CI run ids each time. The `failure_groups` table keeps, per
 * id, the name given last and the union of every CI run id given (in the order first given),
 * updated in the transaction that records each run, so reading a group is one row however many
 * runs it has. Groups none of whose runs is kept any more go with the runs' pruning.
 *
 * Reads go through a small cache (the runs of a list resolve their groups one by one, and runs
 * of one group come together); recording a run of a group updates its entry.
 */
import type { FailureGroup } from '../runs/agent-run.js';
import type { SqliteDatabase } from './database.js';

/** Groups kept in memory at most: a page of runs names at most this many. */
const CACHED_GROUPS = 512;

interface GroupRow {
  id: string;
  name: string;
  run_ids: string;
}

export class FailureGroups {
  private readonly cache = new Map<string, FailureGroup>();
  private readonly statements;

  constructor(db: SqliteDatabase) {
    this.statements = {
      get: db.prepare('SELECT * FROM failure_groups WHERE id = ?'),
      upsert: db.prepare(
        `INSERT INTO failure_groups (id, name, run_ids) VALUES (@id, @name, @run_ids)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, run_ids = excluded.run_ids`,
      ),
    };
  }

  /**
   * Merges a run's group into the stored one: its name is the group's now; its CI run ids join
   * the union. Call it in the transaction that records the run: if the caller's transaction
   * rolls back, call {@link forget} too.
   */
  record(group: FailureGroup): FailureGroup {
    const stored = this.read(group.id);
    const runIds = stored ? union(stored.runIds, group.runIds) : [...new Set(group.runIds)];
    const merged: FailureGroup = Object.freeze({ id: group.id, name: group.name, runIds: Object.freeze(runIds) });
    this.statements.upsert.run({ id: merged.id, name: merged.name, run_ids: JSON.stringify(merged.runIds) });
    this.remember(merged);
    return merged;
  }

  /** The stored group, or undefined when no run names it. */
  get(id: string): FailureGroup | undefined {
    const cached = this.cache.get(id);
    if (cached) {
      // Most recently used last: the oldest entry is the one dropped.
      this.cache.delete(id);
      this.cache.set(id, cached);
      return cached;
    }
    const group = this.read(id);
    if (group) this.remember(group);
    return group;
  }

  /** Drops a cached group (after a rolled-back write), so that the next read asks the database. */
  forget(id: string): void {
    this.cache.delete(id);
  }

  /** Empties the cache: groups were deleted (pruning) or rolled back. */
  clearCache(): void {
    this.cache.clear();
  }

  private read(id: string): FailureGroup | undefined {
    const row = this.statements.get.get(id) as GroupRow | undefined;
    if (!row) return undefined;
    return Object.freeze({ id: row.id, name: row.name, runIds: Object.freeze(JSON.parse(row.run_ids) as string[]) });
  }

  private remember(group: FailureGroup): void {
    this.cache.delete(group.id);
    this.cache.set(group.id, group);
    if (this.cache.size > CACHED_GROUPS) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }
}

/** `known` followed by the ids of `added` it does not hold, each once. */
function union(known: readonly string[], added: readonly string[]): string[] {
  const all = new Set(known);
  for (const id of added) all.add(id);
  return [...all];
}

/** Deletes the groups none of whose runs is kept; run inside the pruning transaction, after the runs go. */
export function pruneFailureGroups(db: SqliteDatabase): void {
  db.exec('DELETE FROM failure_groups WHERE NOT EXISTS (SELECT 1 FROM runs WHERE runs.group_id = failure_groups.id)');
}
