/**
 * Opens bosun's SQLite database (better-sqlite3) and brings its schema up to date. Migrations
 * are versioned in the code and recorded in `PRAGMA user_version`; each runs once, in a
 * transaction.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

/** Each entry upgrades the schema from version i to i + 1. Append only; never edit a shipped one. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  CREATE TABLE runs (
    ord            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    status         TEXT NOT NULL,
    failure_reason TEXT,
    error          TEXT,
    group_json     TEXT NOT NULL,
    config_json    TEXT NOT NULL,
    container_id   TEXT,
    exit_code      INTEGER,
    steps_json     TEXT NOT NULL,
    queued_at      INTEGER NOT NULL,
    started_at     INTEGER,
    finished_at    INTEGER,
    retry_of       TEXT
  );
  CREATE INDEX runs_status ON runs (status, ord);
  CREATE INDEX runs_finished_at ON runs (finished_at) WHERE finished_at IS NOT NULL;
  CREATE TABLE logs (
    run_id TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    stream TEXT NOT NULL,
    step   INTEGER,
    line   TEXT NOT NULL,
    at     INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
  ) WITHOUT ROWID;
  CREATE TABLE samples (
    run_id             TEXT,
    container_id       TEXT NOT NULL,
    at                 INTEGER NOT NULL,
    cpu_percent        REAL NOT NULL,
    memory_usage_bytes REAL NOT NULL,
    memory_limit_bytes REAL NOT NULL,
    memory_percent     REAL NOT NULL,
    pids               INTEGER NOT NULL,
    pids_limit         INTEGER
  );
  CREATE INDEX samples_run ON samples (run_id, at);
  CREATE INDEX samples_at ON samples (at);
  CREATE TABLE alerts (
    id         TEXT PRIMARY KEY,
    run_id     TEXT,
    at         INTEGER NOT NULL,
    alert_json TEXT NOT NULL
  );
  CREATE INDEX alerts_run ON alerts (run_id, at);
  CREATE TABLE peaks (
    run_id       TEXT PRIMARY KEY,
    cpu_percent  REAL NOT NULL,
    memory_bytes REAL NOT NULL,
    pids         INTEGER NOT NULL
  );
  `,
];

/**
 * Opens (creating if needed) the database at `path` (`:memory:` for a throwaway one) and applies
 * pending migrations.
 */
export function openDatabase(path: string): SqliteDatabase {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // WAL with NORMAL loses at most the last transactions on power loss, never consistency.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

export function schemaVersion(db: SqliteDatabase): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function migrate(db: SqliteDatabase): void {
  const current = schemaVersion(db);
  if (current > MIGRATIONS.length) {
    throw new Error(`the database schema is version ${current}, newer than this bosun knows (${MIGRATIONS.length}); upgrade bosun`);
  }
  for (let version = current; version < MIGRATIONS.length; version += 1) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
