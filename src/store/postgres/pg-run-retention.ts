/**
 * Retention in PostgreSQL, as run-retention.ts in SQLite: drops old finished runs with
 * everything recorded about them (logs, samples, alerts, peaks), beyond the newest
 * `maxFinishedRuns` and older than `maxAgeMs`; unfinished runs are never dropped, and a failure
 * group goes with the last of its runs. One node prunes at a time (an advisory lock); a node
 * that finds another pruning leaves it to that one.
 */
import type { RunRetentionOptions } from '../run-retention.js';
import type { PostgresDatabase } from './pg-database.js';

const PRUNE_LOCK = 'prune-runs';

/** Prunes; resolves with the number of runs dropped (0 when another node is pruning now). */
export async function prunePgRuns(db: PostgresDatabase, options: RunRetentionOptions, now: number = Date.now()): Promise<number> {
  const result = await db.tryWithAdvisoryLock(PRUNE_LOCK, () =>
    db.transaction(async (client) => {
      const { rows } = await client.query<{ group_id: string }>(
        `WITH doomed AS (
           SELECT id FROM runs WHERE finished_at IS NOT NULL AND finished_at < $1
           UNION
           SELECT id FROM (SELECT id FROM runs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, ord DESC OFFSET $2) older
         ),
         logs_gone AS (DELETE FROM logs WHERE run_id IN (SELECT id FROM doomed)),
         samples_gone AS (DELETE FROM samples WHERE run_id IN (SELECT id FROM doomed)),
         alerts_gone AS (DELETE FROM alerts WHERE run_id IN (SELECT id FROM doomed)),
         peaks_gone AS (DELETE FROM peaks WHERE run_id IN (SELECT id FROM doomed))
         DELETE FROM runs WHERE id IN (SELECT id FROM doomed) RETURNING group_id`,
        [new Date(now - options.maxAgeMs), options.maxFinishedRuns],
      );
      if (rows.length > 0) {
        await client.query(
          'DELETE FROM failure_groups g WHERE g.id = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.group_id = g.id)',
          [[...new Set(rows.map((row) => row.group_id))]],
        );
      }
      return rows.length;
    }),
  );
  return result.acquired ? result.value : 0;
}
