/**
 * Opening the database: one owner at a time, a damaged or foreign file refused with one line
 * naming it, and a new database owner-only on disk.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DatabaseOpenError, MIGRATIONS, openDatabase, type SqliteDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { makeRun } from '../helpers/fixtures.js';

const dirs: string[] = [];
const open: SqliteDatabase[] = [];
afterEach(() => {
  for (const db of open.splice(0)) if (db.open) db.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-db-'));
  dirs.push(dir);
  return dir;
}

function openTracked(path: string): SqliteDatabase {
  const db = openDatabase(path);
  open.push(db);
  return db;
}

function openFailure(path: string): DatabaseOpenError {
  try {
    openTracked(path);
  } catch (error) {
    expect(error).toBeInstanceOf(DatabaseOpenError);
    return error as DatabaseOpenError;
  }
  throw new Error(`expected opening ${path} to fail`);
}

/** A real bosun database with runs and a few thousand log lines, closed. */
async function realDatabase(path: string): Promise<void> {
  const db = openDatabase(path);
  const store = new SqliteRunStore(db, { logLinesPerRun: 100_000 });
  for (let r = 0; r < 20; r += 1) {
    await store.insert(makeRun({ id: `run-${r}` }));
    for (let i = 0; i < 200; i += 1) store.appendLog(`run-${r}`, 'STDOUT', 1, `line ${i} ${'x'.repeat(100)}`);
  }
  await store.flush();
  db.close();
}

describe('one owner per database', () => {
  it('refuses a second open of the same file with one line naming it, and opens again once the first is closed', () => {
    const path = join(tempDir(), 'bosun.db');
    const first = openTracked(path);
    const refused = openFailure(path);
    expect(refused.code).toBe('DATABASE_LOCKED');
    expect(refused.message).toBe(`the database ${path} is in use by another process (another bosun on the same file?); one bosun owns a database`);
    // The refused open changed nothing: the owner goes on writing.
    first.prepare("INSERT INTO meta (key, value) VALUES ('k', 'v')").run();
    first.close();
    const again = openTracked(path);
    expect(again.prepare("SELECT value FROM meta WHERE key = 'k'").get()).toEqual({ value: 'v' });
  });

  it('keeps the lock while it only reads', () => {
    const path = join(tempDir(), 'bosun.db');
    openTracked(path).close();
    const reader = openTracked(path);
    reader.prepare('SELECT count(*) FROM runs').get();
    expect(openFailure(path).code).toBe('DATABASE_LOCKED');
  });
});

describe('a file that is not a bosun database', () => {
  it('refuses random bytes', () => {
    const path = join(tempDir(), 'bosun.db');
    writeFileSync(path, randomBytes(64 * 1024));
    const error = openFailure(path);
    expect(error.code).toBe('DATABASE_CORRUPT');
    expect(error.message).toBe(`the database ${path} is not a bosun SQLite database or is corrupt: file is not a database`);
  });

  it.each([
    ['half', (size: number) => Math.floor(size / 2)],
    ['all but its last page', (size: number) => size - 4096],
    ['its first 100 bytes', () => 100],
  ])('refuses a real database truncated to %s', async (_name, truncatedSize) => {
    const dir = tempDir();
    const original = join(dir, 'original.db');
    await realDatabase(original);
    const path = join(dir, 'bosun.db');
    copyFileSync(original, path);
    truncateSync(path, truncatedSize(statSync(path).size));
    const error = openFailure(path);
    expect(error.code).toBe('DATABASE_CORRUPT');
    expect(error.message).toMatch(new RegExp(`^the database ${path} is not a bosun SQLite database or is corrupt: \\S.*$`));
    expect(error.message).not.toContain('\n');
  });

  it('refuses damaged pages found by the quick check', async () => {
    const dir = tempDir();
    const path = join(dir, 'bosun.db');
    await realDatabase(path);
    // Overwrite the middle of the file (log pages) with garbage, keeping its size.
    const size = statSync(path).size;
    const garbage = Buffer.alloc(8 * 4096, 0xa5);
    const handle = openSync(path, 'r+');
    writeSync(handle, garbage, 0, garbage.length, Math.floor(size / 2 / 4096) * 4096);
    closeSync(handle);
    expect(openFailure(path).code).toBe('DATABASE_CORRUPT');
  });

  it("refuses another program's SQLite database rather than adding bosun's tables to it", () => {
    const path = join(tempDir(), 'other.db');
    const other = new Database(path);
    other.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY)');
    other.close();
    const error = openFailure(path);
    expect(error.message).toBe(`the database ${path} is not a bosun SQLite database or is corrupt: it holds tables but no bosun schema version`);
  });

  it('refuses a database from a newer bosun', () => {
    const path = join(tempDir(), 'bosun.db');
    openTracked(path).pragma(`user_version = ${MIGRATIONS.length + 1}`);
    open.pop()!.close();
    const error = openFailure(path);
    expect(error.code).toBe('DATABASE_TOO_NEW');
    expect(error.message).toBe(
      `the database ${path} has schema version ${MIGRATIONS.length + 1}, newer than this bosun knows (${MIGRATIONS.length}); upgrade bosun`,
    );
  });

  it('opens an empty file as a new database', () => {
    const path = join(tempDir(), 'bosun.db');
    writeFileSync(path, '');
    expect(openTracked(path).prepare('SELECT count(*) AS n FROM runs').get()).toEqual({ n: 0 });
  });
});

describe('file modes', () => {
  it('creates the data directory 0700 and the database and its write-ahead log 0600', () => {
    const root = tempDir();
    const path = join(root, 'data', 'nested', 'bosun.db');
    const db = openTracked(path);
    db.prepare("INSERT INTO meta (key, value) VALUES ('k', 'v')").run();
    const mode = (file: string) => statSync(file).mode & 0o777;
    expect(mode(join(root, 'data'))).toBe(0o700);
    expect(mode(join(root, 'data', 'nested'))).toBe(0o700);
    expect(mode(path)).toBe(0o600);
    expect(existsSync(`${path}-wal`)).toBe(true);
    expect(mode(`${path}-wal`)).toBe(0o600);
    // Exclusive locking mode keeps the WAL index in memory: there is no -shm file to protect.
    expect(existsSync(`${path}-shm`)).toBe(false);
  });
});

describe('the failure groups migration', () => {
  it('gives the runs already stored their group id, and each group its last name and every CI run id in the order first given', async () => {
    const path = join(tempDir(), 'bosun.db');
    const version = MIGRATIONS.findIndex((migration) => migration.includes('CREATE TABLE failure_groups'));
    expect(version).toBeGreaterThan(0);
    // A database as the bosun before that migration left it.
    const before = new Database(path);
    for (const migration of MIGRATIONS.slice(0, version)) before.exec(migration);
    before.pragma(`user_version = ${version}`);
    const insert = before.prepare(
      "INSERT INTO runs (id, status, group_json, config_json, steps_json, queued_at) VALUES (?, 'SUCCEEDED', ?, '{}', '[]', 0)",
    );
    insert.run('r1', JSON.stringify({ id: 'g', name: 'first name', runIds: ['ci-2', 'ci-1'] }));
    insert.run('r2', JSON.stringify({ id: 'h', name: 'other', runIds: [] }));
    insert.run('r3', JSON.stringify({ id: 'g', name: 'last name', runIds: ['ci-3', 'ci-1', 'ci-4'] }));
    before.close();

    const db = openTracked(path);
    expect(db.prepare('SELECT id, group_id FROM runs ORDER BY ord').all()).toEqual([
      { id: 'r1', group_id: 'g' },
      { id: 'r2', group_id: 'h' },
      { id: 'r3', group_id: 'g' },
    ]);
    const store = new SqliteRunStore(db, { logLinesPerRun: 100 });
    expect(await store.group('g')).toEqual({ id: 'g', name: 'last name', runIds: ['ci-2', 'ci-1', 'ci-3', 'ci-4'] });
    expect(await store.group('h')).toEqual({ id: 'h', name: 'other', runIds: [] });
    expect(await store.count({ groupId: 'g' })).toBe(2);
    // The queries by group use their index.
    const plan = db.prepare("EXPLAIN QUERY PLAN SELECT * FROM runs WHERE group_id = 'g' AND ord < 10 ORDER BY ord DESC").all() as {
      detail: string;
    }[];
    expect(plan.map((step) => step.detail).join('; ')).toMatch(/USING INDEX runs_group/);
  });
});
