/**
 * Opens bosun's SQLite database (better-sqlite3) and brings its schema up to date. Migrations
 * are versioned in the code and recorded in `PRAGMA user_version`; each runs once, in a
 * transaction.
 *
 * One owner per database: the file is opened in SQLite's EXCLUSIVE locking mode, so the first
 * read takes a lock that lasts until the connection closes (the kernel drops it when the process
 * dies, even by kill -9). A second bosun on the same file is refused before it reads or writes
 * anything, instead of taking the first one's instance id and reaping its containers.
 *
 * The database holds runs' environment values: a new file (and its -wal, which SQLite creates
 * with the same mode) is owner-only (0600), in a data directory created owner-only (0700).
 * A file that is not a SQLite database, or a damaged one, is refused at open after a quick check
 * of its structure.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { errorMessage } from '../errors.js';

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
  // Artifacts kept from runs' sandboxes; their bytes are files beside the database (SqliteArtifactStore).
  `
  CREATE TABLE artifacts (
    run_id     TEXT NOT NULL,
    path       TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, path)
  ) WITHOUT ROWID;
  `,
  // Failure groups as entities (Query.failureGroup, runs(groupId)): each run's group id in a
  // column with its index, and per group the name given last and the union of the CI run ids
  // given, in the order first given; filled from the runs already stored.
  `
  ALTER TABLE runs ADD COLUMN group_id TEXT NOT NULL DEFAULT '';
  UPDATE runs SET group_id = coalesce(json_extract(group_json, '$.id'), '');
  CREATE INDEX runs_group ON runs (group_id, ord);
  CREATE TABLE failure_groups (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    run_ids TEXT NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO failure_groups (id, name, run_ids)
    SELECT g.group_id,
      coalesce((SELECT json_extract(r.group_json, '$.name') FROM runs r WHERE r.group_id = g.group_id ORDER BY r.ord DESC LIMIT 1), ''),
      coalesce((SELECT json_group_array(value) FROM (
        SELECT value FROM (
          SELECT j.value AS value, r.ord AS ord, j.key AS position,
                 row_number() OVER (PARTITION BY j.value ORDER BY r.ord, j.key) AS nth
            FROM runs r, json_each(r.group_json, '$.runIds') j
           WHERE r.group_id = g.group_id)
        WHERE nth = 1 ORDER BY ord, position)), '[]')
    FROM (SELECT DISTINCT group_id FROM runs) g;
  `,
  // AgentRun.warmStart: whether the run's sandbox came from the warm pool (runs stored before it: no).
  `
  ALTER TABLE runs ADD COLUMN warm_start INTEGER NOT NULL DEFAULT 0;
  `,
  // AgentRun.node: the cluster node that took the run (null embedded, and for runs stored before it).
  `
  ALTER TABLE runs ADD COLUMN node TEXT;
  `,
];

/** Why a database could not be opened: `message` is one line naming the path, for people. */
export type DatabaseOpenErrorCode =
  /** Another process (a second bosun) holds the database. */
  | 'DATABASE_LOCKED'
  /** Not a SQLite database, or a damaged one. */
  | 'DATABASE_CORRUPT'
  /** Written by a newer bosun. */
  | 'DATABASE_TOO_NEW'
  /** Anything else: no permission, a full disk at creation, a directory in the way. */
  | 'DATABASE_UNUSABLE';

export class DatabaseOpenError extends Error {
  override readonly name = 'DatabaseOpenError';

  constructor(
    readonly code: DatabaseOpenErrorCode,
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Opens (creating if needed) the database at `path` (`:memory:` for a throwaway one), takes its
 * exclusive lock, checks it and applies pending migrations.
 * @throws DatabaseOpenError with a one-line message naming the path.
 */
export function openDatabase(path: string): SqliteDatabase {
  if (path === ':memory:') return prepare(new Database(path), path);
  let db: SqliteDatabase | undefined;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Creates the file owner-only if it is missing; an existing one is left as it is.
    closeSync(openSync(path, 'a', 0o600));
    // No busy wait: the lock is either free or held by a live owner for as long as it runs.
    db = new Database(path, { timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    return prepare(db, path);
  } catch (error) {
    db?.close();
    throw openError(path, error);
  }
}

function prepare(db: SqliteDatabase, path: string): SqliteDatabase {
  // The first access: in EXCLUSIVE mode it takes the lock that is kept until close.
  db.pragma('journal_mode = WAL');
  // WAL with NORMAL loses at most the last transactions on power loss, never consistency.
  db.pragma('synchronous = NORMAL');
  if (path !== ':memory:') {
    const check = db.pragma('quick_check(1)', { simple: true });
    if (check !== 'ok') throw new DatabaseOpenError('DATABASE_CORRUPT', path, corruptMessage(path, String(check)));
  }
  migrate(db, path);
  return db;
}

function openError(path: string, error: unknown): DatabaseOpenError {
  if (error instanceof DatabaseOpenError) return error;
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new DatabaseOpenError(
      'DATABASE_LOCKED',
      path,
      `the database ${path} is in use by another process (another bosun on the same file?); one bosun owns a database`,
      { cause: error },
    );
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new DatabaseOpenError('DATABASE_CORRUPT', path, corruptMessage(path, errorMessage(error)), { cause: error });
  }
  return new DatabaseOpenError('DATABASE_UNUSABLE', path, `the database ${path} cannot be opened: ${oneLine(errorMessage(error))}`, { cause: error });
}

function corruptMessage(path: string, detail: string): string {
  return `the database ${path} is not a bosun SQLite database or is corrupt: ${oneLine(detail)}`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

export function schemaVersion(db: SqliteDatabase): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function migrate(db: SqliteDatabase, path: string): void {
  const current = schemaVersion(db);
  if (current === 0 && (db.prepare('SELECT count(*) AS n FROM sqlite_schema').get() as { n: number }).n > 0) {
    throw new DatabaseOpenError('DATABASE_CORRUPT', path, corruptMessage(path, 'it holds tables but no bosun schema version'));
  }
  if (current > MIGRATIONS.length) {
    throw new DatabaseOpenError(
      'DATABASE_TOO_NEW',
      path,
      `the database ${path} has schema version ${current}, newer than this bosun knows (${MIGRATIONS.length}); upgrade bosun`,
    );
  }
  for (let version = current; version < MIGRATIONS.length; version += 1) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
