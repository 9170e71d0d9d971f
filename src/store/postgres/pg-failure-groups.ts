/**
 * Failure groups in PostgreSQL: per group id, the name given last and the union of every CI run
 * id given, in the order first given (as failure-groups.ts keeps them in SQLite). The merge is
 * one upsert done by the server under the row's lock, so nodes recording runs of one group at
 * once each add their ids and none is lost; no cache, since another node may change a group at
 * any time and a group is one primary-key read.
 */
import type { FailureGroup } from '../../runs/agent-run.js';
import type { Queryable } from './pg-database.js';

/**
 * Inserts the group, or merges it into the stored one: its name is the group's now; its CI run
 * ids not yet stored are appended in the order given. Call it in the transaction that records
 * the run, so that both are kept or neither.
 */
export async function recordFailureGroup(db: Queryable, group: FailureGroup): Promise<void> {
  await db.query(
    `INSERT INTO failure_groups (id, name, run_ids) VALUES ($1, $2, $3::jsonb)
     ON CONFLICT (id) DO UPDATE SET name = excluded.name,
       run_ids = failure_groups.run_ids || coalesce(
         (SELECT jsonb_agg(e.v ORDER BY e.o) FROM jsonb_array_elements(excluded.run_ids) WITH ORDINALITY AS e(v, o)
           WHERE NOT failure_groups.run_ids @> jsonb_build_array(e.v)),
         '[]'::jsonb)`,
    [group.id, group.name, JSON.stringify([...new Set(group.runIds)])],
  );
}

/** The stored group, or undefined when no run names it. */
export async function readFailureGroup(db: Queryable, id: string): Promise<FailureGroup | undefined> {
  const { rows } = await db.query<{ id: string; name: string; run_ids: string[] }>('SELECT id, name, run_ids FROM failure_groups WHERE id = $1', [
    id,
  ]);
  const row = rows[0];
  if (!row) return undefined;
  return Object.freeze({ id: row.id, name: row.name, runIds: Object.freeze(row.run_ids) });
}
