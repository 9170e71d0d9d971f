/**
 * The run service's admission when the store cannot write, and its recovery of a line shorter
 * than before, with a fake sandbox (no engine) and a real SQLite store whose writes are made to
 * fail by the database itself (temporary triggers raising SQLite's error).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ShellAgent } from '../../src/agents/shell-agent.js';
import { createSilentLogger } from '../../src/logger.js';
import { AgentExecutionQueue } from '../../src/queue/agent-execution-queue.js';
import { AgentRegistry } from '../../src/runs/agent-registry.js';
import type { AgentRun } from '../../src/runs/agent-run.js';
import { isFinalStatus } from '../../src/runs/agent-run.js';
import { AgentRunService } from '../../src/runs/agent-run-service.js';
import { openDatabase, type SqliteDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { StoreHealth } from '../../src/store/store-health.js';
import { FakeSandboxProvider, type FakeSandbox } from '../helpers/fake-sandbox.js';
import { makeRun } from '../helpers/fixtures.js';
import { createTestLogger } from '../helpers/test-logger.js';
import { bosunRefusal } from '../helpers/bosun-refusal.js';

const DEFAULTS = {
  agent: 'shell',
  image: 'bosun-sandbox:latest',
  limits: { cpus: 1, memoryBytes: 256 * 1024 ** 2, pidsLimit: 100 },
  timeoutMs: 60_000,
};

const services: AgentRunService[] = [];
afterEach(async () => {
  for (const service of services.splice(0)) await service.shutdown();
});

function setup(options: { maxConcurrency?: number; maxQueueLength?: number; db?: SqliteDatabase; nodeName?: string } = {}) {
  const db = options.db ?? openDatabase(':memory:');
  // Quick retries: the tests wait for the store's state, never for a time.
  const health = new StoreHealth({ logger: createTestLogger(), minRetryDelayMs: 1, maxRetryDelayMs: 10 });
  const store = new SqliteRunStore(db, { logLinesPerRun: 1000, health });
  const queue = new AgentExecutionQueue({
    runTask: (id, signal) => service.runTask(id, signal),
    maxConcurrency: options.maxConcurrency ?? 2,
    maxQueueLength: options.maxQueueLength ?? 10,
    queueTimeoutMs: 600_000,
  });
  const sandboxes = new FakeSandboxProvider();
  const service: AgentRunService = new AgentRunService({
    store,
    queue,
    sandboxes,
    agents: new AgentRegistry([new ShellAgent()]),
    defaults: DEFAULTS,
    queueTimeoutMs: 600_000,
    stopGraceMs: 100,
    ...(options.nodeName === undefined ? {} : { nodeName: options.nodeName }),
    logger: createSilentLogger(),
  });
  services.push(service);
  const final = (id: string) =>
    new Promise<AgentRun>((resolve) => {
      const check = (run: AgentRun) => {
        if (run.id === id && isFinalStatus(run.status)) {
          service.events.off('run-updated', check);
          resolve(run);
        }
      };
      service.events.on('run-updated', check);
      void service.get(id).then((current) => {
        if (current) check(current);
      });
    });
  const stored = (id: string) =>
    db.prepare('SELECT status, failure_reason FROM runs WHERE id = ?').get(id) as { status: string; failure_reason: string };
  const storedLines = (id: string) =>
    (db.prepare('SELECT line FROM logs WHERE run_id = ? ORDER BY seq').all(id) as { line: string }[]).map((r) => r.line);
  return { db, health, store, queue, sandboxes, service, final, stored, storedLines };
}

/** Every INSERT and UPDATE on runs and logs fails as on a full disk, until the returned function is called. */
function fillDisk(db: SqliteDatabase): () => void {
  const names: string[] = [];
  for (const table of ['runs', 'logs']) {
    for (const operation of ['INSERT', 'UPDATE']) {
      const name = `full_${table}_${operation.toLowerCase()}`;
      db.exec(`CREATE TEMP TRIGGER ${name} BEFORE ${operation} ON ${table} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
      names.push(name);
    }
  }
  return () => {
    for (const name of names) db.exec(`DROP TRIGGER ${name}`);
  };
}

function input(steps: string[]) {
  return { group: { id: 'g', name: 'failing CI', runIds: ['ci-1'] }, config: { steps } };
}

describe('admission while the store cannot write', () => {
  it('answers UNAVAILABLE saying why, lets running runs go on, and admits again once the store writes', async () => {
    const { db, health, sandboxes, service, final, stored, storedLines } = setup();
    let heal: () => void = () => {};
    let holding: FakeSandbox | undefined;
    sandboxes
      .on('fill the disk', { stdout: ['before the fault'], onRun: () => (heal = fillDisk(db)) })
      .on('print', { stdout: ['during 1', 'during 2'] })
      .on('hold', { hang: true, onRun: (sandbox) => (holding = sandbox) });
    const holder = (await service.start(input(['hold']))).run.id;
    const finishing = (await service.start(input(['fill the disk', 'print']))).run.id;
    const previous = finishing;

    // The run that met the fault finishes as it would have: its record and lines wait in memory.
    const done = await final(finishing);
    expect(done).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
    await vi.waitFor(() => expect(health.report().status).toBe('DEGRADED'));
    expect(stored(finishing).status).toBe('RUNNING');
    expect((await service.logs(finishing)).map((l) => l.line)).toEqual(expect.arrayContaining(['before the fault', 'during 1', 'during 2']));

    const refused = await bosunRefusal(service.start(input(['true'])));
    expect(refused.code).toBe('UNAVAILABLE');
    expect(refused.message).toMatch(
      /^bosun's store cannot write \(.*database or disk is full.*\), so no run is admitted until it can; running runs go on/,
    );
    expect((await bosunRefusal(service.retry(previous))).code).toBe('UNAVAILABLE');
    // The running run keeps its sandbox.
    expect(holding).toBeDefined();
    expect(holding!.stopped).toBe(false);
    expect((await service.get(holder))!.status).toBe('RUNNING');

    heal();
    await vi.waitFor(() => expect(health.report().status).toBe('OK'));
    expect(stored(finishing)).toEqual({ status: 'SUCCEEDED', failure_reason: null });
    expect(storedLines(finishing)).toEqual(expect.arrayContaining(['before the fault', 'during 1', 'during 2']));
    expect(storedLines(finishing)).toEqual((await service.logs(finishing)).map((l) => l.line));
    const admitted = await service.start(input(['true']));
    expect((await final(admitted.run.id)).status).toBe('SUCCEEDED');
    expect((await service.cancel(holder)).status).toBe('CANCELLED');
  });

  it('answers UNAVAILABLE when the insert of the new run itself fails, and keeps nothing of it', async () => {
    const { db, health, service } = setup();
    const heal = fillDisk(db);
    const refused = await bosunRefusal(service.start(input(['true'])));
    expect(refused.code).toBe('UNAVAILABLE');
    expect(refused.message).toContain('database or disk is full');
    expect(await service.list()).toEqual([]);
    await vi.waitFor(() => expect(health.report()).toMatchObject({ status: 'DEGRADED', error: 'new runs: database or disk is full' }));
    heal();
    await vi.waitFor(() => expect(health.report().status).toBe('OK'));
    expect((await service.start(input(['true']))).run.status).not.toBe('FAILED');
  });
});

describe('recovery into a shorter line', () => {
  it('fails the stored waiting runs that no longer fit with QUEUE_FULL, and re-enters the others in order', async () => {
    const db = openDatabase(':memory:');
    const seed = new SqliteRunStore(db, { logLinesPerRun: 100 });
    const queuedAt = (s: number) => new Date(Date.parse('2026-11-26T10:00:00Z') + s * 1000);
    for (const [i, id] of ['w1', 'w2', 'w3', 'w4'].entries()) await seed.insert(makeRun({ id, queuedAt: queuedAt(i) }));
    const { queue, service, stored } = setup({ db, maxQueueLength: 2 });
    // As at start-up: nothing starts before recovery is done.
    await queue.pause();
    expect(await service.recover()).toEqual({ interrupted: 0, requeued: 2 });
    expect(queue.waitingIds()).toEqual(['w1', 'w2']);
    for (const id of ['w3', 'w4']) {
      expect(await service.get(id)).toMatchObject({ status: 'FAILED', failureReason: 'QUEUE_FULL' });
      expect((await service.get(id))!.error).toMatch(/queue is full/i);
      expect(stored(id)).toEqual({ status: 'FAILED', failure_reason: 'QUEUE_FULL' });
    }
  });
});

describe('recovery racing shutdown', () => {
  it('leaves the stored waiting runs QUEUED when shutdown closes the line while recovery puts them back, and stops recovering', async () => {
    const db = openDatabase(':memory:');
    const seed = new SqliteRunStore(db, { logLinesPerRun: 100 });
    const ids = Array.from({ length: 30 }, (_, i) => `w${String(i).padStart(2, '0')}`);
    // Recent: none is past its queue timeout, so each would wait (not time out) once in line.
    const queuedAt = (i: number) => new Date(Date.now() - 60_000 + i * 1000);
    for (const [i, id] of ids.entries()) await seed.insert(makeRun({ id, queuedAt: queuedAt(i) }));
    const { queue, service, store, stored } = setup({ db, maxQueueLength: 100 });
    await queue.pause();
    const entered: string[] = [];
    let shutdown: Promise<void> | undefined;
    queue.events.on('enqueued', ({ id }) => {
      entered.push(id);
      // Shutdown begins as recovery has put the first run back: the rest meet a closing line.
      shutdown ??= service.shutdown();
    });
    const recovered = await service.recover();
    await shutdown;
    await store.flush();
    expect(entered.length).toBeGreaterThan(0);
    // Recovery stopped once admission closed: it did not try every run against a closed line.
    expect(entered.length).toBeLessThan(ids.length);
    expect(recovered.requeued).toBe(entered.length);
    for (const id of ids) expect(stored(id)).toEqual({ status: 'QUEUED', failure_reason: null });

    // The next start finds every one of them waiting, in order.
    const next = setup({ db, maxQueueLength: 100 });
    await next.queue.pause();
    expect(await next.service.recover()).toEqual({ interrupted: 0, requeued: ids.length });
    expect(next.queue.waitingIds()).toEqual(ids);
  });
});

describe('a cluster node and agents it lacks', () => {
  it('puts a waiting run whose agent it lacks back in line at recovery, rather than failing it', async () => {
    const db = openDatabase(':memory:');
    const seed = new SqliteRunStore(db, { logLinesPerRun: 100 });
    const queuedAt = new Date(Date.parse('2026-11-26T10:00:00Z'));
    await seed.insert(makeRun({ id: 'mine', queuedAt }));
    await seed.insert(makeRun({ id: 'custom', queuedAt, config: { ...makeRun({ id: 'x' }).config, agent: 'fixer' } }));
    const { queue, service, stored } = setup({ db, nodeName: 'node-a' });
    await queue.pause();
    const restored: string[] = [];
    const restoreWaiting = (runs: ReadonlyArray<{ readonly id: string }>): Promise<number> => {
      restored.push(...runs.map((run) => run.id));
      return Promise.resolve(runs.length);
    };
    expect(await service.recover({ node: 'node-a', restoreWaiting })).toEqual({ interrupted: 0, requeued: 2 });
    expect(restored).toEqual(['mine', 'custom']);
    expect(stored('custom')).toEqual({ status: 'QUEUED', failure_reason: null });
  });

  it('fails a run it takes whose agent it lacks, naming the agent and the node', async () => {
    const db = openDatabase(':memory:');
    await new SqliteRunStore(db, { logLinesPerRun: 100 }).insert(
      makeRun({ id: 'custom', config: { ...makeRun({ id: 'x' }).config, agent: 'fixer' } }),
    );
    const { service, sandboxes } = setup({ db, nodeName: 'node-b' });
    // As the cluster's worker on this node calls it, for a run another node admitted.
    await service.runTask('custom', new AbortController().signal);
    const run = await service.get('custom');
    expect(run).toMatchObject({ status: 'FAILED' });
    expect(run!.error).toContain('agent "fixer" is not registered on node node-b');
    expect(sandboxes.created).toHaveLength(0);
  });

  it('does not run again a run the line hands out that the store has running elsewhere, or ended', async () => {
    const db = openDatabase(':memory:');
    const store = new SqliteRunStore(db, { logLinesPerRun: 100 });
    const startedAt = new Date();
    await store.insert(makeRun({ id: 'elsewhere', status: 'RUNNING', node: 'node-a', startedAt }));
    await store.insert(makeRun({ id: 'ended', status: 'SUCCEEDED', node: 'node-a', startedAt, finishedAt: new Date() }));
    const { service, sandboxes } = setup({ db, nodeName: 'node-b' });
    // As the cluster's worker calls it for a run put back in line just as another node had taken it.
    for (const id of ['elsewhere', 'ended']) await service.runTask(id, new AbortController().signal);
    expect(sandboxes.created).toHaveLength(0);
    expect(await service.get('elsewhere')).toMatchObject({ status: 'RUNNING', node: 'node-a' });
    expect(await service.get('ended')).toMatchObject({ status: 'SUCCEEDED' });
  });
});

/** A gate a test opens by hand. */
function gate(): { readonly opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** The SQLite store, whose inserts wait for a gate: as a remote store answers later. */
class SlowInsertStore extends SqliteRunStore {
  readonly insertGate = gate();
  inserting = 0;

  override async insert(run: AgentRun): Promise<void> {
    this.inserting += 1;
    await this.insertGate.opened;
    return super.insert(run);
  }
}

/** The p-queue queue, whose enqueue waits for a gate: as a shared queue answers later. */
class SlowEnqueueQueue extends AgentExecutionQueue {
  readonly enqueueGate = gate();

  override async enqueue(...args: Parameters<AgentExecutionQueue['enqueue']>): ReturnType<AgentExecutionQueue['enqueue']> {
    await this.enqueueGate.opened;
    return super.enqueue(...args);
  }
}

/** A run service on `store` and `queue` (built with its `runTask` as their handler). */
function serviceOn(store: SqliteRunStore, queue: AgentExecutionQueue): AgentRunService {
  return new AgentRunService({
    store,
    queue,
    sandboxes: new FakeSandboxProvider(),
    agents: new AgentRegistry([new ShellAgent()]),
    defaults: DEFAULTS,
    queueTimeoutMs: 600_000,
    stopGraceMs: 100,
    logger: createSilentLogger(),
  });
}

describe('cancel during shutdown', () => {
  it('records the cancel of a run the shutdown took out of the line, so it does not start at the next start', async () => {
    const { queue, service, store, stored } = setup({ maxConcurrency: 1 });
    await queue.pause();
    const { run } = await service.start(input(['true']));
    await service.shutdown();
    // The closed line no longer holds the run; it stays QUEUED for the next start unless cancelled.
    expect(stored(run.id).status).toBe('QUEUED');

    expect(await service.cancel(run.id)).toMatchObject({ status: 'CANCELLED', error: 'cancelled while bosun was shutting down' });
    await store.flush();
    expect(stored(run.id).status).toBe('CANCELLED');
    expect(await store.unfinished()).toEqual([]);
  });
});

describe('admission while the store and the queue answer later', () => {
  it('lets a cancel that arrives while the run enters the line wait for it, then takes it out: it never starts', async () => {
    const db = openDatabase(':memory:');
    const queue = new SlowEnqueueQueue({
      runTask: (id, signal) => service.runTask(id, signal),
      maxConcurrency: 0,
      maxQueueLength: 10,
      queueTimeoutMs: 600_000,
    });
    const service = serviceOn(new SqliteRunStore(db, { logLinesPerRun: 100 }), queue);
    await queue.pause();
    services.push(service);
    const stored = new Promise<string>((resolve) => service.events.once('run-updated', (run) => resolve(run.id)));
    const starting = service.start(input(['true']));
    const id = await stored;
    // Stored, not yet in line: the cancel waits for the admission.
    const cancelling = service.cancel(id);
    let cancelled = false;
    void cancelling.then(() => (cancelled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(cancelled).toBe(false);
    queue.enqueueGate.open();
    const { run, ticket } = await starting;
    expect(run).toMatchObject({ id, status: 'QUEUED' });
    expect(ticket.position).toBe(1);
    expect(await cancelling).toMatchObject({ id, status: 'CANCELLED' });
    expect(queue.waitingIds()).toEqual([]);
    await queue.resume();
    expect(queue.isRunning(id)).toBe(false);
    expect(await service.get(id)).toMatchObject({ status: 'CANCELLED' });
  });

  it('fails a run stored while shutdown began, rather than queue it into a closing line; shutdown waits for it', async () => {
    const db = openDatabase(':memory:');
    const store = new SlowInsertStore(db, { logLinesPerRun: 100 });
    const queue = new AgentExecutionQueue({
      runTask: (id, signal) => service.runTask(id, signal),
      maxConcurrency: 1,
      maxQueueLength: 10,
      queueTimeoutMs: 600_000,
    });
    const service = serviceOn(store, queue);
    const starting = bosunRefusal(service.start(input(['true'])));
    // The start is past its checks and waits for the store.
    await vi.waitFor(() => expect(store.inserting).toBe(1));
    let down = false;
    const shutdown = service.shutdown().then(() => (down = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(down).toBe(false);
    store.insertGate.open();
    const error = await starting;
    expect(error.code).toBe('SHUTTING_DOWN');
    await shutdown;
    const [row] = db.prepare('SELECT id, status, error FROM runs').all() as { id: string; status: string; error: string }[];
    expect(row).toMatchObject({ status: 'FAILED', error: 'bosun began shutting down before the run entered the line' });
    expect(queue.waitingIds()).toEqual([]);
    expect(queue.isRunning(row!.id)).toBe(false);
  });
});
