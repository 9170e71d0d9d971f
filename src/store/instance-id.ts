/**
 * The identity of a bosun instance, kept in its database: containers are labelled with it, so a
 * restarted process on the same database recognises (and reaps) what its predecessor left,
 * while containers of another instance are never touched.
 */
import { randomUUID } from 'node:crypto';
import type { SqliteDatabase } from './database.js';

export function loadOrCreateInstanceId(db: SqliteDatabase): string {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'instance_id'").get() as { value: string } | undefined;
  if (row) return row.value;
  const id = `bosun-${randomUUID()}`;
  db.prepare("INSERT INTO meta (key, value) VALUES ('instance_id', ?)").run(id);
  return id;
}
