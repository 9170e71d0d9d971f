import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AgentRun } from '../../src/runs/agent-run.js';
import { MIGRATIONS, openDatabase, schemaVersion, type SqliteDatabase } from '../../src/store/database.js';
import { loadOrCreateInstanceId } from '../../src/store/instance-id.js';
import { SqliteHistoryStore } from '../../src/store/sqlite-history-store.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { StoreHealth } from '../../src/store/store-health.js';
import { makeRun } from '../helpers/fixtures.js';
import { createTestLogger } from '../helpers/test-logger.js';

const dirs: string[] = [];
function tempDbPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-store-'));
  dirs.push(dir);
  return join(dir, 'nested', 'bosun.db');
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function finished(id: string, finishedAt: Date): AgentRun {
  return makeRun({ id, status: 'SUCCEEDED', queuedAt: new Date(finishedAt.getTime() - 1000), startedAt: finishedAt, finishedAt, exitCode: 0 });
}

describe('SqliteRunStore', () => {
  it('keeps runs, their changes and their logs across a reopen of the file', async () => {
    const path = tempDbPath();
    let db = openDatabase(path);
    let store = new SqliteRunStore(db, { logLinesPerRun: 100 });
    const run = makeRun({ id: 'r1', queuedAt: new Date('2026-01-01T00:00:00Z') });
    await store.insert(run);
    const started = { ...run, status: 'RUNNING' as const, startedAt: new Date('2026-01-01T00:00:01Z'), containerId: 'c1' };
    store.update(started);
    const withStep = {
      ...started,
      steps: [{ index: 1, command: 'make', exitCode: 0, startedAt: new Date('2026-01-01T00:00:02Z'), finishedAt: new Date('2026-01-01T00:00:03Z') }],
    };
    store.update(withStep);
    store.appendLog('r1', 'STDOUT', 1, 'hello');
    store.appendLog('r1', 'SYSTEM', null, 'step 1 exited 0');
    await store.flush();
    db.close();

    db = openDatabase(path);
    store = new SqliteRunStore(db, { logLinesPerRun: 100 });
    expect(await store.get('r1')).toEqual(withStep);
    expect((await store.unfinished()).map((r) => r.id)).toEqual(['r1']);
    expect((await store.readLogs('r1')).map((l) => [l.seq, l.stream, l.step, l.line])).toEqual([
      [1, 'STDOUT', 1, 'hello'],
      [2, 'SYSTEM', null, 'step 1 exited 0'],
    ]);
    // Numbering goes on where it stopped.
    expect(store.appendLog('r1', 'STDERR', 1, 'more').seq).toBe(3);
    await store.flush();
    db.close();
  });

  it('keeps whether a run started warm, and reads runs stored before the warm pool as cold', async () => {
    const path = tempDbPath();
    let db = openDatabase(path);
    let store = new SqliteRunStore(db, { logLinesPerRun: 100 });
    const warm = makeRun({ id: 'warm' });
    await store.insert(warm);
    store.update({ ...warm, status: 'RUNNING', containerId: 'c1', warmStart: true });
    await store.insert(makeRun({ id: 'cold' }));
    db.close();

    // A database of the version before AgentRun.warmStart, with a run in it.
    const oldPath = tempDbPath();
    mkdirSync(dirname(oldPath), { recursive: true });
    const old = new Database(oldPath);
    old.exec(MIGRATIONS.slice(0, -1).join('\n'));
    old.pragma(`user_version = ${MIGRATIONS.length - 1}`);
    old
      .prepare(`INSERT INTO runs (id, status, group_json, config_json, steps_json, queued_at) VALUES ('before', 'SUCCEEDED', ?, ?, '[]', 0)`)
      .run(JSON.stringify(makeRun({ id: 'before' }).group), JSON.stringify(makeRun({ id: 'before' }).config));
    old.close();

    db = openDatabase(path);
    store = new SqliteRunStore(db, { logLinesPerRun: 100 });
    expect((await store.get('warm'))?.warmStart).toBe(true);
    expect((await store.get('cold'))?.warmStart).toBe(false);
    db.close();
    db = openDatabase(oldPath);
    expect((await new SqliteRunStore(db, { logLinesPerRun: 100 }).get('before'))?.warmStart).toBe(false);
    db.close();
  });

  it('migrates a new database to the latest version, once', () => {
    const path = tempDbPath();
    const db = openDatabase(path);
    expect(schemaVersion(db)).toBe(MIGRATIONS.length);
    db.close();
    const again = openDatabase(path);
    expect(schemaVersion(again)).toBe(MIGRATIONS.length);
    again.close();
  });
});

describe('retention', () => {
  it('stays within its bounds after 6,000 finished runs and 20,000 samples', async () => {
    const db = openDatabase(':memory:');
    const store = new SqliteRunStore(db, { logLinesPerRun: 100 });
    const history = new SqliteHistoryStore(db, { sampleRetentionMs: 24 * 3_600_000, liveWindowMs: 15 * 60_000 });
    const now = Date.parse('2026-11-26T12:00:00Z');
    for (let i = 0; i < 6000; i += 1) {
      const id = `run-${i}`;
      await store.insert(finished(id, new Date(now - (6000 - i) * 1000)));
      store.appendLog(id, 'STDOUT', 1, 'x');
    }
    await store.insert(makeRun({ id: 'waiting', queuedAt: new Date(now - 10 * 24 * 3_600_000) }));
    // 20,000 samples over the last 30 hours, one every 5.4 s, for the newest run.
    for (let i = 0; i < 20_000; i += 1) {
      history.recordSample({
        containerId: 'c',
        runId: 'run-5999',
        at: new Date(now - 30 * 3_600_000 + i * 5400),
        cpuPercent: i % 100,
        memoryUsageBytes: 1e6,
        memoryLimitBytes: 1e8,
        memoryPercent: 1,
        pids: 3,
        pidsLimit: 100,
      });
    }
    expect(store.prune({ maxFinishedRuns: 5000, maxAgeMs: 7 * 24 * 3_600_000 }, now)).toBe(1000);
    history.prune(now);
    const runs = (db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n;
    const logs = (db.prepare('SELECT count(*) AS n FROM logs').get() as { n: number }).n;
    expect(runs).toBe(5001);
    expect(logs).toBe(5000);
    expect(await store.get('waiting')).toBeDefined();
    expect(await store.get('run-999')).toBeUndefined();
    expect(await store.get('run-1000')).toBeDefined();
    // Kept: 24 h of samples, of which all but the last 15 minutes thinned to one a minute.
    const samples = history.sampleCount();
    expect(samples).toBeLessThanOrEqual(24 * 60 + (15 * 60_000) / 5400 + 2);
    expect(samples).toBeGreaterThan(24 * 60 - 2);
    const kept = await history.samples({ runId: 'run-5999' });
    expect(kept[0]!.at.getTime()).toBeGreaterThanOrEqual(now - 24 * 3_600_000);
    expect(await history.peak('run-5999')).toEqual({ cpuPercent: 99, memoryBytes: 1e6, pids: 3 });
  });
});

it('keeps one instance id per database', () => {
  const path = tempDbPath();
  const db = openDatabase(path);
  const id = loadOrCreateInstanceId(db);
  expect(id).toMatch(/^bosun-[0-9a-f-]{36}$/);
  expect(loadOrCreateInstanceId(db)).toBe(id);
  db.close();
  const again = openDatabase(path);
  expect(loadOrCreateInstanceId(again)).toBe(id);
  expect(loadOrCreateInstanceId(openDatabase(':memory:'))).not.toBe(id);
  again.close();
});

/**
 * Makes every `operation` on `table` fail as a full disk would, until the returned function is
 * called: a real SQLite error from inside the write (a temporary trigger), not a mock.
 */
function failWrites(db: SqliteDatabase, table: string, operation: 'INSERT' | 'UPDATE'): () => void {
  const name = `fail_${table}_${operation.toLowerCase()}`;
  db.exec(`CREATE TEMP TRIGGER ${name} BEFORE ${operation} ON ${table} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
  return () => db.exec(`DROP TRIGGER ${name}`);
}

describe('SqliteRunStore when the database cannot write', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup(options: { logPendingMaxChars?: number } = {}) {
    const db = openDatabase(':memory:');
    const health = new StoreHealth({ logger: createTestLogger() });
    const store = new SqliteRunStore(db, { logLinesPerRun: 1000, health, ...options });
    const storedLines = (runId: string) =>
      (
        db.prepare('SELECT seq, stream, line FROM logs WHERE run_id = ? ORDER BY seq').all(runId) as { seq: number; stream: string; line: string }[]
      ).map((row) => `${row.seq} ${row.stream} ${row.line}`);
    const storedStatus = (id: string) => (db.prepare('SELECT status FROM runs WHERE id = ?').get(id) as { status: string }).status;
    return { db, health, store, storedLines, storedStatus };
  }

  it('keeps log lines that fail to write, reads them, and writes them once the database takes writes again', async () => {
    const { db, health, store, storedLines } = setup();
    await store.insert(makeRun({ id: 'r' }));
    store.appendLog('r', 'STDOUT', 1, 'before');
    await store.flush();
    const heal = failWrites(db, 'logs', 'INSERT');
    for (let i = 1; i <= 3; i += 1) store.appendLog('r', 'STDOUT', 1, `during ${i}`);
    expect(() => vi.advanceTimersByTime(0)).not.toThrow();
    vi.advanceTimersByTime(300);
    expect(health.report()).toMatchObject({ status: 'DEGRADED', error: 'log lines: database or disk is full' });
    expect(store.writeFault()).toBe('log lines: database or disk is full');
    expect((await store.readLogs('r')).map((l) => l.line)).toEqual(['before', 'during 1', 'during 2', 'during 3']);
    expect((await store.readLogs('r', 2, 1)).map((l) => l.line)).toEqual(['during 3']);
    expect(storedLines('r')).toEqual(['1 STDOUT before']);

    heal();
    vi.advanceTimersByTime(5000);
    expect(health.report().status).toBe('OK');
    expect(store.writeFault()).toBeNull();
    expect(storedLines('r')).toEqual(['1 STDOUT before', '2 STDOUT during 1', '3 STDOUT during 2', '4 STDOUT during 3']);
    expect(store.appendLog('r', 'STDOUT', 1, 'after').seq).toBe(5);
  });

  it("keeps a run's newest snapshot when its update fails, reads it, and writes it later", async () => {
    const { db, health, store, storedStatus } = setup();
    const run = makeRun({ id: 'r' });
    await store.insert(run);
    const heal = failWrites(db, 'runs', 'UPDATE');
    const running = { ...run, status: 'RUNNING' as const, startedAt: new Date() };
    expect(() => store.update(running)).not.toThrow();
    const done = { ...running, status: 'SUCCEEDED' as const, finishedAt: new Date(), exitCode: 0 };
    store.update(done);
    vi.advanceTimersByTime(300);
    expect(health.report()).toMatchObject({ status: 'DEGRADED', error: 'run changes: database or disk is full' });
    expect(await store.get('r')).toEqual(done);
    expect(await store.list(undefined, 10)).toEqual([done]);
    expect(await store.list(new Set(['QUEUED']), 10)).toEqual([]);
    expect(await store.list(new Set(['SUCCEEDED']), 10)).toEqual([done]);
    expect(storedStatus('r')).toBe('QUEUED');

    heal();
    vi.advanceTimersByTime(5000);
    expect(health.report().status).toBe('OK');
    expect(storedStatus('r')).toBe('SUCCEEDED');
    expect(await store.get('r')).toEqual(done);
  });

  it('throws when a new run cannot be inserted, keeps nothing of it, and finds out by itself when writes work again', async () => {
    const { db, health, store } = setup();
    const heal = failWrites(db, 'runs', 'INSERT');
    await expect(store.insert(makeRun({ id: 'r' }))).rejects.toThrow('database or disk is full');
    expect(await store.get('r')).toBeUndefined();
    vi.advanceTimersByTime(300);
    expect(health.report()).toMatchObject({ status: 'DEGRADED', error: 'new runs: database or disk is full' });
    heal();
    vi.advanceTimersByTime(5000);
    expect(health.report().status).toBe('OK');
    await store.insert(makeRun({ id: 'r' }));
    expect((await store.get('r'))?.id).toBe('r');
  });

  it('drops lines past its bound while writes fail, and says how many in the place of the first dropped one', async () => {
    // Room for two waiting lines of this size (each counts its length plus 128).
    const { db, health, store, storedLines } = setup({ logPendingMaxChars: 2 * (128 + 6) });
    await store.insert(makeRun({ id: 'r' }));
    const heal = failWrites(db, 'logs', 'INSERT');
    const seqs = [];
    for (let i = 1; i <= 6; i += 1) seqs.push(store.appendLog('r', 'STDOUT', 1, `line ${i}`).seq);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
    vi.advanceTimersByTime(300);
    const notice = 'bosun dropped 4 log lines of this run here: the store could not write (log lines: database or disk is full)';
    expect((await store.readLogs('r')).map((l) => `${l.seq} ${l.stream} ${l.line}`)).toEqual([
      '1 STDOUT line 1',
      '2 STDOUT line 2',
      `3 SYSTEM ${notice} and the lines waiting for it had reached their limit`,
    ]);
    heal();
    vi.advanceTimersByTime(5000);
    expect(health.report().status).toBe('OK');
    expect(storedLines('r')).toEqual(['1 STDOUT line 1', '2 STDOUT line 2', expect.stringMatching(/^3 SYSTEM bosun dropped 4 log lines/)]);
    // The next line follows the last number given out.
    expect(store.appendLog('r', 'STDOUT', 1, 'after').seq).toBe(7);
  });

  it('prunes nothing while lines wait for the store', async () => {
    const { db, store } = setup();
    await store.insert(makeRun({ id: 'old', status: 'SUCCEEDED', finishedAt: new Date(Date.now() - 10 * 24 * 3_600_000) }));
    failWrites(db, 'logs', 'INSERT');
    store.appendLog('old', 'SYSTEM', null, 'late line');
    vi.advanceTimersByTime(0);
    expect(store.prune({ maxFinishedRuns: 100, maxAgeMs: 24 * 3_600_000 })).toBe(0);
    expect(await store.get('old')).toBeDefined();
  });
});
