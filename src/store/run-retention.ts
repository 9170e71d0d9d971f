/**
 * Drops old finished runs with everything recorded about them: beyond the newest
 * `maxFinishedRuns`, and older than `maxAgeMs`. Unfinished runs are never dropped. A failure
 * group goes with the last of its runs.
 */
import type { SqliteDatabase } from './database.js';
import { pruneFailureGroups } from './failure-groups.js';

export interface RunRetentionOptions {
  readonly maxFinishedRuns: number;
  readonly maxAgeMs: number;
}

export function pruneRuns(db: SqliteDatabase, options: RunRetentionOptions, now: number = Date.now()): number {
  return db.transaction(() => {
    db.exec('CREATE TEMP TABLE IF NOT EXISTS doomed (id TEXT PRIMARY KEY)');
    db.exec('DELETE FROM doomed');
    db.prepare(
      `INSERT OR IGNORE INTO doomed (id)
         SELECT id FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?
         UNION
         SELECT id FROM (SELECT id FROM runs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC, ord DESC LIMIT -1 OFFSET ?)`,
    ).run(now - options.maxAgeMs, options.maxFinishedRuns);
    for (const table of ['logs', 'samples', 'alerts', 'peaks']) {
      db.exec(`DELETE FROM ${table} WHERE run_id IN (SELECT id FROM doomed)`);
    }
    const { changes } = db.prepare('DELETE FROM runs WHERE id IN (SELECT id FROM doomed)').run();
    if (changes > 0) pruneFailureGroups(db);
    return changes;
  })();
}
