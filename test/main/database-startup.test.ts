/**
 * `npm start`'s entry point (src/main.ts, a child process) on a database it cannot use: one
 * line naming the file on stderr, nothing else, exit 1, and the file left as it was.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { makeRun } from '../helpers/fixtures.js';
import { runToExit, type ProcessOutcome } from '../helpers/run-to-exit.js';

const dir = mkdtempSync(join(tmpdir(), 'bosun-startup-db-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runMain(dbPath: string): Promise<ProcessOutcome> {
  return runToExit(['src/main.ts'], { env: { ...process.env, BOSUN_DB_PATH: dbPath, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info' } });
}

describe('start-up on a database it cannot use', () => {
  it('refuses a file of random bytes with one line, and leaves it untouched', async () => {
    const path = join(dir, 'random.db');
    const bytes = randomBytes(64 * 1024);
    writeFileSync(path, bytes);
    const { code, stdout, stderr } = await runMain(path);
    expect(stderr).toBe(`bosun: the database ${path} is not a bosun SQLite database or is corrupt: file is not a database\n`);
    expect(stdout).toBe('');
    expect(code).toBe(1);
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });

  it('refuses a truncated real database with one line', async () => {
    const original = join(dir, 'original.db');
    const db = openDatabase(original);
    const store = new SqliteRunStore(db, { logLinesPerRun: 100_000 });
    for (let r = 0; r < 10; r += 1) {
      await store.insert(makeRun({ id: `run-${r}` }));
      for (let i = 0; i < 300; i += 1) store.appendLog(`run-${r}`, 'STDOUT', 1, `line ${i} ${'x'.repeat(100)}`);
    }
    await store.flush();
    db.close();
    const path = join(dir, 'truncated.db');
    copyFileSync(original, path);
    truncateSync(path, Math.floor(statSync(path).size / 2));
    const { code, stdout, stderr } = await runMain(path);
    expect(stderr).toBe(`bosun: the database ${path} is not a bosun SQLite database or is corrupt: database disk image is malformed\n`);
    expect(stdout).toBe('');
    expect(code).toBe(1);
  });
});
