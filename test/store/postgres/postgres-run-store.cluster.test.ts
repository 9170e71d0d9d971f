/**
 * PostgresRunStore on a real PostgreSQL: the RunStore contract (the cases SqliteRunStore passes),
 * then what only a server store meets: PostgreSQL going away under running runs, and numbering a
 * run's log on the node that takes it over.
 */
import { describe, expect, it } from 'vitest';
import { PostgresRunStore } from '../../../src/store/postgres/postgres-run-store.js';
import { StoreHealth } from '../../../src/store/store-health.js';
import { makeRun } from '../../helpers/fixtures.js';
import { createTestLogger } from '../../helpers/test-logger.js';
import { describeRunStoreContract } from '../contract/run-store-contract.js';
import { usePgTestDatabase } from './pg-test-database.js';

const pg = usePgTestDatabase();

async function storedLogCount(runId: string): Promise<number> {
  const { rows } = await pg.db.query<{ n: number }>('SELECT count(*)::int AS n FROM logs WHERE run_id = $1', [runId]);
  return rows[0]!.n;
}

/** The stores of the current case: their last writes land before the next case empties the tables. */
const opened: PostgresRunStore[] = [];

function openStore(...args: ConstructorParameters<typeof PostgresRunStore>): PostgresRunStore {
  const store = new PostgresRunStore(...args);
  opened.push(store);
  return store;
}

async function emptyDatabase(): Promise<void> {
  for (const store of opened.splice(0)) await store.flush();
  await pg.empty();
}

describeRunStoreContract('PostgresRunStore', async ({ logLinesPerRun }) => {
  await emptyDatabase();
  return {
    store: openStore(pg.db, { logLinesPerRun }),
    reopen: () => openStore(pg.db, { logLinesPerRun }),
    storedLogCount,
  };
});

/** Waits until `condition` holds, checking every 50 ms for at most `timeoutMs`. */
async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function storedLines(runId: string): Promise<string[]> {
  const { rows } = await pg.db.query<{ seq: number; stream: string; line: string }>(
    'SELECT seq, stream, line FROM logs WHERE run_id = $1 ORDER BY seq',
    [runId],
  );
  return rows.map((row) => `${row.seq} ${row.stream} ${row.line}`);
}

describe('PostgresRunStore when PostgreSQL goes away', () => {
  it('keeps changes and lines while it is down, reports the fault, refuses new runs, and writes everything once it is back', async () => {
    await emptyDatabase();
    const logger = createTestLogger();
    const health = new StoreHealth({ logger, minRetryDelayMs: 50, maxRetryDelayMs: 250, reportAfterFailures: 2 });
    const store = openStore(pg.db, { logLinesPerRun: 1000, health });
    const run = makeRun({ id: 'r' });
    await store.insert(run);
    store.appendLog('r', 'STDOUT', 1, 'before');
    expect(await store.flush()).toBe(true);

    await pg.server.halt();
    const running = { ...run, status: 'RUNNING' as const, startedAt: new Date(), containerId: 'c1' };
    expect(() => store.update(running)).not.toThrow();
    const seqs = [1, 2, 3].map((i) => store.appendLog('r', 'STDOUT', 1, `during ${i}`).seq);
    expect(seqs).toEqual([2, 3, 4]);
    expect(await store.flush()).toBe(false);
    await until(() => health.report().status === 'DEGRADED');
    expect(store.writeFault()).toMatch(/^(run changes|log lines): /);
    // Its own unwritten change is still what it reads.
    expect(await store.get('r')).toEqual(running);
    await expect(store.insert(makeRun({ id: 'refused' }))).rejects.toThrow();
    expect(store.writeFault()).toContain('new runs: ');

    await pg.server.restart();
    await until(() => store.writeFault() === null);
    expect(health.report().status).toBe('OK');
    expect(await store.flush()).toBe(true);
    expect(await storedLines('r')).toEqual(['1 STDOUT before', '2 STDOUT during 1', '3 STDOUT during 2', '4 STDOUT during 3']);
    const { rows } = await pg.db.query<{ status: string; container_id: string }>('SELECT status, container_id FROM runs WHERE id = $1', ['r']);
    expect(rows).toEqual([{ status: 'RUNNING', container_id: 'c1' }]);
    expect(await store.get('refused')).toBeUndefined();
    expect(store.appendLog('r', 'STDOUT', 1, 'after').seq).toBe(5);
    await store.insert(makeRun({ id: 'admitted' }));
    expect(await store.flush()).toBe(true);
    expect(logger.entries.some((entry) => entry.msg?.startsWith('store DEGRADED'))).toBe(true);
  });

  it('drops lines past its bound while writes fail, and says how many in the place of the first dropped one', async () => {
    await emptyDatabase();
    const health = new StoreHealth({ logger: createTestLogger(), minRetryDelayMs: 50, maxRetryDelayMs: 250 });
    // Room for two waiting lines of this size (each counts its length plus 128).
    const store = openStore(pg.db, { logLinesPerRun: 1000, health, logPendingMaxChars: 2 * (128 + 6) });
    await store.insert(makeRun({ id: 'r' }));
    await pg.server.halt();
    const seqs = [1, 2, 3, 4, 5, 6].map((i) => store.appendLog('r', 'STDOUT', 1, `line ${i}`).seq);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await store.flush()).toBe(false);
    // The notice names the fault the store reports (once it reports one).
    await until(() => health.report().status === 'DEGRADED');
    await pg.server.restart();
    await until(() => store.writeFault() === null);
    expect(await store.flush()).toBe(true);
    const lines = await storedLines('r');
    expect(lines.slice(0, 2)).toEqual(['1 STDOUT line 1', '2 STDOUT line 2']);
    expect(lines[2]).toMatch(
      /^3 SYSTEM bosun dropped 4 log lines of this run here: the store could not write \(log lines: .*\) and the lines waiting for it had reached their limit$/,
    );
    expect(lines).toHaveLength(3);
    expect(store.appendLog('r', 'STDOUT', 1, 'after').seq).toBe(7);
  });
});

describe('PostgresRunStore on two nodes', () => {
  it('numbers a run taken over by another node after the last line of the node before, and refuses to number a run it has not read', async () => {
    await emptyDatabase();
    const nodeA = openStore(pg.db, { logLinesPerRun: 100 });
    const nodeB = openStore(await pg.openAnother(), { logLinesPerRun: 100 });
    const run = makeRun({ id: 'r' });
    await nodeA.insert(run);
    nodeA.appendLog('r', 'SYSTEM', null, 'queued at position 0');
    expect(await nodeA.flush()).toBe(true);

    expect(() => nodeB.appendLog('r', 'STDOUT', 1, 'too early')).toThrow(/its log's numbering is not known on this node/);
    expect((await nodeB.get('r'))?.status).toBe('QUEUED');
    for (let i = 1; i <= 3; i += 1) nodeB.appendLog('r', 'STDOUT', 1, `from B ${i}`);
    nodeB.update({ ...run, status: 'RUNNING', startedAt: new Date() });
    expect(await nodeB.flush()).toBe(true);

    // B dies; A recovers its running runs.
    const recovered = await nodeA.unfinished();
    expect(recovered.map((r) => [r.id, r.status])).toEqual([['r', 'RUNNING']]);
    expect(nodeA.appendLog('r', 'SYSTEM', null, 'node B is gone').seq).toBe(5);
    expect(await nodeA.flush()).toBe(true);
    expect((await nodeB.readLogs('r')).map((l) => `${l.seq} ${l.line}`)).toEqual([
      '1 queued at position 0',
      '2 from B 1',
      '3 from B 2',
      '4 from B 3',
      '5 node B is gone',
    ]);
  });
});

describe('PostgresRunStore when two nodes number one run at once', () => {
  it('stores a line whose seq another node took after the stored lines, and the node goes on after it, instead of failing the log writes for good', async () => {
    await emptyDatabase();
    const nodeA = openStore(pg.db, { logLinesPerRun: 100 });
    const nodeB = openStore(await pg.openAnother(), { logLinesPerRun: 100 });
    await nodeA.insert(makeRun({ id: 'r' }));
    // B takes the run (reads it: no line yet) before A's admission line is written, as a node that
    // takes a job the moment it enters the line does.
    expect((await nodeB.get('r'))?.status).toBe('QUEUED');
    nodeA.appendLog('r', 'SYSTEM', null, 'queued at position 1');
    expect(await nodeA.flush()).toBe(true);
    expect(nodeB.appendLog('r', 'STDOUT', 1, 'from B 1').seq).toBe(1);
    expect(await nodeB.flush()).toBe(true);
    expect(nodeB.writeFault()).toBeNull();
    expect(nodeB.appendLog('r', 'STDOUT', 1, 'from B 2').seq).toBe(3);
    expect(await nodeB.flush()).toBe(true);
    expect(await storedLines('r')).toEqual(['1 SYSTEM queued at position 1', '2 STDOUT from B 1', '3 STDOUT from B 2']);
  });

  // The line whose seq was taken moves with the batch's later lines of its run, in their order.
  it('keeps the order of a batch whose first line had its seq taken by another node', async () => {
    await emptyDatabase();
    const nodeA = openStore(pg.db, { logLinesPerRun: 100 });
    const nodeB = openStore(await pg.openAnother(), { logLinesPerRun: 100 });
    await nodeA.insert(makeRun({ id: 'r' }));
    expect((await nodeB.get('r'))?.status).toBe('QUEUED');
    nodeA.appendLog('r', 'SYSTEM', null, 'queued at position 1');
    expect(await nodeA.flush()).toBe(true);
    for (const text of ['from B 1', 'from B 2', 'from B 3']) nodeB.appendLog('r', 'STDOUT', 1, text);
    expect(await nodeB.flush()).toBe(true);
    expect(await storedLines('r')).toEqual(['1 SYSTEM queued at position 1', '2 STDOUT from B 1', '3 STDOUT from B 2', '4 STDOUT from B 3']);
  });

  it('writes a line found stored at its seq already (a commit whose answer was lost) only once', async () => {
    await emptyDatabase();
    const store = openStore(pg.db, { logLinesPerRun: 100 });
    await store.insert(makeRun({ id: 'r' }));
    const line = store.appendLog('r', 'STDOUT', 1, 'once');
    await pg.db.query('INSERT INTO logs (run_id, seq, stream, step, line, at) VALUES ($1, $2, $3, $4, $5, $6)', [
      line.runId,
      line.seq,
      line.stream,
      line.step,
      line.line,
      line.at,
    ]);
    expect(await store.flush()).toBe(true);
    expect(store.appendLog('r', 'STDOUT', 1, 'next').seq).toBe(2);
    expect(await store.flush()).toBe(true);
    expect(await storedLines('r')).toEqual(['1 STDOUT once', '2 STDOUT next']);
  });
});

/**
 * Makes every UPDATE of runs fail as a full disk would, until the returned function is called: a
 * real PostgreSQL error from inside the write (a trigger), not a mock.
 */
async function failRunUpdates(): Promise<() => Promise<void>> {
  await pg.db.query(`CREATE OR REPLACE FUNCTION bosun_test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$`);
  await pg.db.query('CREATE TRIGGER no_updates BEFORE UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION bosun_test_disk_full()');
  return async () => {
    await pg.db.query('DROP TRIGGER no_updates ON runs');
  };
}

describe('PostgresRunStore while run changes cannot be written', () => {
  it('lists, pages and counts by the waiting snapshots, and stays full', async () => {
    await emptyDatabase();
    const health = new StoreHealth({ logger: createTestLogger(), minRetryDelayMs: 50, maxRetryDelayMs: 250, reportAfterFailures: 1 });
    const store = openStore(pg.db, { logLinesPerRun: 100, health });
    const runs = Array.from({ length: 6 }, (_, n) => makeRun({ id: `r${n + 1}` }));
    for (const run of runs) await store.insert(run);
    const heal = await failRunUpdates();
    // r5 and r6 are running now, but their rows still say QUEUED.
    for (const run of runs.slice(4)) store.update({ ...run, status: 'RUNNING', startedAt: new Date() });
    expect(await store.flush()).toBe(false);
    expect(store.writeFault()).toBe('run changes: could not extend file: No space left on device');
    const queued = { status: new Set(['QUEUED'] as const) };
    const running = { status: new Set(['RUNNING'] as const) };
    const page = await store.page(queued, 2);
    expect(page.runs.map(({ run }) => run.id)).toEqual(['r4', 'r3']);
    expect(page.hasNextPage).toBe(true);
    expect((await store.page(queued, 10)).runs.map(({ run }) => run.id)).toEqual(['r4', 'r3', 'r2', 'r1']);
    expect((await store.page(running, 5)).runs.map(({ run }) => [run.id, run.status])).toEqual([
      ['r6', 'RUNNING'],
      ['r5', 'RUNNING'],
    ]);
    expect(await store.count(queued)).toBe(4);
    expect(await store.count(running)).toBe(2);
    expect((await store.list(new Set(['RUNNING']), 10)).map((run) => run.id)).toEqual(['r6', 'r5']);
    expect((await store.list(new Set(['QUEUED']), 10)).map((run) => run.id)).toEqual(['r4', 'r3', 'r2', 'r1']);
    expect((await store.unfinished()).map((run) => [run.id, run.status])).toEqual([
      ['r1', 'QUEUED'],
      ['r2', 'QUEUED'],
      ['r3', 'QUEUED'],
      ['r4', 'QUEUED'],
      ['r5', 'RUNNING'],
      ['r6', 'RUNNING'],
    ]);

    await heal();
    await until(() => store.writeFault() === null);
    const { rows } = await pg.db.query<{ id: string }>("SELECT id FROM runs WHERE status = 'RUNNING' ORDER BY id");
    expect(rows.map((row) => row.id)).toEqual(['r5', 'r6']);
  });
});
