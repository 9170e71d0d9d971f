/**
 * The cluster queue against a real redis-server: several BullMqExecutionQueue instances in this
 * process, each with its own connections, play the nodes of one cluster; a child process plays a
 * node that dies. Every wait is for an event or a state, never for a length of time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BullMqExecutionQueue, type BullMqExecutionQueueOptions, type ClusterQueueEvents } from '../../src/queue/bullmq-execution-queue.js';
import type { ExecutionQueueEvents } from '../../src/queue/execution-queue.js';
import { Tasks } from '../helpers/cluster-tasks.js';
import { startRedis, type TestServer } from '../helpers/cluster-servers.js';
import { bosunRefusal } from '../helpers/bosun-refusal.js';

let redis: TestServer;
const opened: BullMqExecutionQueue[] = [];

beforeAll(async () => {
  // Without an append-only file: a restart after kill -9 is a Redis that lost its data.
  redis = await startRedis({ appendOnly: false });
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((queue) => queue.close()));
});

afterAll(async () => {
  await redis.stop();
});

interface Cluster {
  readonly queueName: string;
  readonly tasks: Tasks;
  readonly node: (name: string, options?: Partial<BullMqExecutionQueueOptions>) => Promise<BullMqExecutionQueue>;
}

function cluster(defaults: Partial<BullMqExecutionQueueOptions> = {}): Cluster {
  const queueName = `test-${randomUUID()}`;
  const tasks = new Tasks();
  return {
    queueName,
    tasks,
    node: async (name, options = {}) => {
      const queue = await BullMqExecutionQueue.open({
        redisUrl: redis.url,
        queueName,
        nodeName: name,
        nodeMaxConcurrency: 1,
        maxConcurrency: 1,
        maxQueueLength: 100,
        queueTimeoutMs: 600_000,
        leaseMs: 30_000,
        runTask: tasks.handler(name),
        ...defaults,
        ...options,
      });
      opened.push(queue);
      return queue;
    },
  };
}

/** Resolves with the first event `name` of `queue` that `test` accepts. */
function nextEvent<K extends keyof ExecutionQueueEvents>(
  queue: BullMqExecutionQueue,
  name: K,
  test: (...args: ExecutionQueueEvents[K]) => boolean = () => true,
): Promise<ExecutionQueueEvents[K]> {
  return new Promise((resolve) => {
    const listener = (...args: ExecutionQueueEvents[K]): void => {
      if (!test(...args)) return;
      queue.events.off(name, listener as never);
      resolve(args);
    };
    queue.events.on(name, listener as never);
  });
}

/** Waits until `test` holds, checking after each of the queue's status events. */
async function until(queue: BullMqExecutionQueue, test: () => boolean): Promise<void> {
  while (!test()) await nextEvent(queue, 'status');
}

/** Retries `check` until it passes: for a state that no event announces (a connection's). */
async function eventually(check: () => void): Promise<void> {
  for (;;) {
    try {
      check();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** A node in a child process (test/helpers/bullmq-node-process.ts), to be killed; `waitLine` resolves once it printed `text`. */
function spawnNode(queueName: string, name: string, leaseMs: number): { child: ChildProcess; waitLine: (text: string) => Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/bullmq-node-process.ts', redis.url, queueName, name, String(leaseMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const seen: string[] = [];
  lines.on('line', (line) => seen.push(line));
  const waitLine = (text: string): Promise<void> =>
    new Promise((resolve) => {
      if (seen.includes(text)) resolve();
      lines.on('line', (line) => {
        if (line === text) resolve();
      });
    });
  return { child, waitLine };
}

describe('BullMqExecutionQueue', () => {
  it('starts runs enqueued on three nodes in one FIFO order', async () => {
    const { node, tasks } = cluster();
    const nodes = [await node('a'), await node('b'), await node('c')];
    const ids = Array.from({ length: 6 }, (_, index) => `run-${index}`);
    await nodes[0]!.pause();
    for (const [index, id] of ids.entries()) await nodes[index % 3]!.enqueue(id);
    await until(nodes[2]!, () => nodes[2]!.waitingIds().length === 6);
    expect(nodes[2]!.waitingIds()).toEqual(ids);
    await nodes[1]!.resume();
    for (let index = 0; index < ids.length; index += 1) {
      await tasks.startedCount(index + 1);
      tasks.release(tasks.started[index]!.id);
    }
    expect(tasks.started.map((run) => run.id)).toEqual(ids);
    await Promise.all(nodes.map((queue) => queue.onIdle()));
  });

  it('never runs more than the cluster limit, nor more than a node cap on a node', async () => {
    const { node, tasks } = cluster({ maxConcurrency: 2, nodeMaxConcurrency: 1 });
    const nodes = [await node('a'), await node('b'), await node('c')];
    const ids = Array.from({ length: 8 }, (_, index) => `run-${index}`);
    const finished = new Set<string>();
    const startOrder: string[] = [];
    nodes[0]!.events.on('finished', ({ id }) => finished.add(id));
    nodes[0]!.events.on('started', ({ id }) => startOrder.push(id));
    for (const [index, id] of ids.entries()) await nodes[index % 3]!.enqueue(id);
    let released = 0;
    while (released < ids.length) {
      await tasks.startedCount(released + 1);
      // Two run at once whenever two are let run: release the oldest.
      expect(nodes[0]!.stats().running).toBeLessThanOrEqual(2);
      tasks.release(tasks.started[released]!.id);
      released += 1;
    }
    await until(nodes[0]!, () => finished.size === ids.length);
    expect(tasks.peak).toBeLessThanOrEqual(2);
    expect(tasks.peak).toBe(2);
    expect(tasks.peakPerNode).toBe(1);
    // Taken from the line in FIFO order (two tasks taken at once may begin in either order).
    expect(startOrder).toEqual(ids);
  });

  it('gives exact positions on every node and lets any node cancel a waiting run', async () => {
    const { node } = cluster();
    const [a, b, c] = [await node('a'), await node('b'), await node('c')];
    await a.pause();
    const tickets = [await a.enqueue('r1'), await b.enqueue('r2'), await a.enqueue('r3')];
    expect(tickets.map((ticket) => ticket.position)).toEqual([1, 2, 3]);
    expect(tickets[2]).toMatchObject({ queued: 3, running: 0, maxConcurrency: 1 });
    await until(c, () => c.waitingIds().length === 3);
    expect(['r1', 'r2', 'r3'].map((id) => c.position(id))).toEqual([1, 2, 3]);

    const moved = nextEvent(b, 'position-changed', ({ id }) => id === 'r3');
    const left = nextEvent(b, 'left', ({ id }) => id === 'r2');
    expect(await c.cancel('r2')).toBe(true);
    expect(c.position('r2')).toBe(0);
    expect((await left)[0]).toMatchObject({ id: 'r2', reason: 'cancelled', byThisNode: false });
    expect((await moved)[0]).toEqual({ id: 'r3', position: 2 });
    expect(b.waitingIds()).toEqual(['r1', 'r3']);
    expect(await a.cancel('r2')).toBe(false);
  });

  it('times a waiting run out once for the whole cluster', async () => {
    const { node, queueName } = cluster({ queueTimeoutMs: 300 });
    const nodes = [await node('a'), await node('b'), await node('c')];
    await nodes[0]!.pause();
    const timedOut = nodes.map((queue) => nextEvent(queue, 'left', ({ id }) => id === 'late'));
    await nodes[1]!.enqueue('late');
    const events = (await Promise.all(timedOut)).map(([event]) => event);
    for (const event of events) expect(event).toMatchObject({ id: 'late', reason: 'timed-out' });
    // One node took it out, and every node knows whether it was that one (it alone records the end).
    expect(events.filter((event) => event.byThisNode === true)).toHaveLength(1);
    expect(events.filter((event) => event.byThisNode === false)).toHaveLength(2);
    const client = new Redis(redis.url);
    try {
      const entries = await client.xrange(`bosun:${queueName}:events`, '-', '+');
      const leaves = entries.filter(([, fields]) => fields.includes('bosun-left') && fields.includes('late'));
      expect(leaves).toHaveLength(1);
    } finally {
      client.disconnect();
    }
    expect(nodes.map((queue) => queue.stats().queued)).toEqual([0, 0, 0]);
  });

  it('refuses runs past the cluster-wide maximum length, even when nodes enqueue at once', async () => {
    const { node } = cluster({ maxQueueLength: 3 });
    const nodes = [await node('a'), await node('b'), await node('c')];
    await nodes[0]!.pause();
    const results = await Promise.allSettled(Array.from({ length: 7 }, (_, index) => nodes[index % 3]!.enqueue(`run-${index}`)));
    const refused = results.filter((result) => result.status === 'rejected');
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(3);
    for (const result of refused) expect(result.reason).toMatchObject({ code: 'QUEUE_FULL' });
    await until(nodes[2]!, () => nodes[2]!.stats().queued === 3);
    expect(() => nodes[2]!.assertAdmits()).toThrow(expect.objectContaining({ code: 'QUEUE_FULL' }));
    const duplicate = await bosunRefusal(nodes[1]!.enqueue(nodes[0]!.waitingIds()[0]!));
    expect(duplicate.code).toBe('INVALID_STATE');
  });

  it('refuses, before touching Redis, a run id BullMQ could not take', async () => {
    const { node } = cluster();
    const a = await node('a');
    for (const id of ['', '42', 'run:1']) await expect(a.enqueue(id)).rejects.toThrow(TypeError);
    expect(a.stats().queued).toBe(0);
  });

  it('pauses and resumes every node', async () => {
    const { node, tasks } = cluster();
    const [a, b] = [await node('a'), await node('b')];
    await a.pause();
    await until(b, () => b.stats().paused);
    const ticket = await b.enqueue('held');
    expect(ticket.position).toBe(1);
    expect(b.stats()).toMatchObject({ paused: true, queued: 1, running: 0 });
    const started = nextEvent(a, 'started', ({ id }) => id === 'held');
    await b.resume();
    await started;
    expect(a.stats().paused).toBe(false);
    await tasks.startedCount(1);
    tasks.release('held');
    await a.onIdle();
  });

  it('changes the cluster limit from any node, starting waiting runs when it is raised', async () => {
    const { node, tasks } = cluster({ maxConcurrency: 1, nodeMaxConcurrency: 2 });
    const [a, b] = [await node('a'), await node('b')];
    for (const id of ['r1', 'r2', 'r3']) await a.enqueue(id);
    await until(b, () => b.stats().running === 1);
    expect(b.stats()).toMatchObject({ running: 1, queued: 2, maxConcurrency: 1 });
    const status = nextEvent(a, 'status', (stats) => stats.maxConcurrency === 3);
    await b.setMaxConcurrency(3);
    await status;
    await until(a, () => a.stats().running === 3);
    expect(a.stats()).toMatchObject({ running: 3, queued: 0, maxConcurrency: 3 });
    // A node that joins later keeps the cluster's limit, not its own configuration.
    const c = await node('c', { maxConcurrency: 1 });
    expect(c.stats().maxConcurrency).toBe(3);
    for (const id of ['r1', 'r2', 'r3']) tasks.release(id);
    await until(c, () => c.stats().running === 0);
  });

  it('moves one node’s own cap without touching the cluster limit, a raise taking a run at once', async () => {
    const { node, tasks } = cluster({ maxConcurrency: 0, nodeMaxConcurrency: 2 });
    const a = await node('a');
    const b = await node('b');
    await b.node.pause();
    await a.node.setMaxConcurrency(1);
    expect(a.node.maxConcurrency()).toBe(1);
    await a.enqueue('r1');
    await tasks.startedCount(1);
    await a.enqueue('r2');
    expect(a.waitingIds()).toEqual(['r2']);
    // Node A is full (r1 never ends by itself): only a wake of its worker takes r2 now.
    await a.node.setMaxConcurrency(2);
    await tasks.startedCount(2);
    expect(tasks.started.map((run) => run.node)).toEqual(['a', 'a']);
    expect([a.stats().maxConcurrency, b.stats().maxConcurrency]).toEqual([0, 0]);
    expect(b.node.maxConcurrency()).toBe(2);
    // Bounded by the cap it was opened with (NODE_MAX_CONCURRENT_AGENTS).
    await expect(a.node.setMaxConcurrency(3)).rejects.toThrow('from 1 to 2');
    await expect(a.node.setMaxConcurrency(0)).rejects.toThrow('from 1 to 2');
    tasks.release('r1');
    tasks.release('r2');
    await a.onIdle();
  });

  it('lets a node without a cap of its own (0) run up to the cluster limit', async () => {
    const { node, tasks } = cluster({ maxConcurrency: 3, nodeMaxConcurrency: 0 });
    const a = await node('a');
    for (const id of ['r1', 'r2', 'r3', 'r4']) await a.enqueue(id);
    await until(a, () => a.stats().running === 3);
    expect(a.stats()).toMatchObject({ running: 3, queued: 1 });
    for (const id of ['r1', 'r2', 'r3']) tasks.release(id);
    await tasks.startedCount(4);
    tasks.release('r4');
    await a.onIdle();
    expect(tasks.peak).toBe(3);
  });

  it('shows a run restored past its deadline entering and timing out on every node, never starting it', async () => {
    const { node, tasks } = cluster({ queueTimeoutMs: 60_000 });
    const [a, b] = [await node('a'), await node('b')];
    const events: string[] = [];
    b.events.on('enqueued', ({ id, position }) => events.push(`enqueued ${id} ${position}`));
    b.events.on('left', ({ id, reason }) => events.push(`left ${id} ${reason}`));
    b.events.on('started', ({ id }) => events.push(`started ${id}`));
    const ticket = await a.enqueue('stale', { queuedAt: new Date(Date.now() - 120_000) });
    expect(ticket.position).toBe(1);
    await until(b, () => events.length === 2);
    expect(events).toEqual(['enqueued stale 1', 'left stale timed-out']);
    // The line goes on: a fresh run starts, the stale one never did.
    await a.enqueue('fresh');
    await tasks.startedCount(1);
    tasks.release('fresh');
    await a.onIdle();
    expect(tasks.started.map((run) => run.id)).toEqual(['fresh']);
  });

  it('closes a node gracefully: its task is aborted and recorded, the waiting runs stay for the others', async () => {
    const { node, tasks } = cluster();
    const [a, b] = [await node('a'), await node('b', { nodeMaxConcurrency: 1 })];
    await b.pause();
    await a.enqueue('first');
    await a.enqueue('second');
    const finished = nextEvent(b, 'finished', ({ id }) => id === 'first');
    await a.resume();
    await tasks.startedCount(1);
    const runner = tasks.started[0]!.node === 'a' ? a : b;
    const other = runner === a ? b : a;
    const lost: string[] = [];
    other.clusterEvents.on('lost', ({ id }) => lost.push(id));
    await runner.pause();
    await runner.close();
    expect((await finished)[0]).toEqual({ id: 'first' });
    await until(other, () => other.stats().running === 0);
    expect(other.waitingIds()).toEqual(['second']);
    await other.resume();
    await tasks.startedCount(2);
    expect(tasks.started[1]).toEqual({ id: 'second', node: other === a ? 'a' : 'b' });
    tasks.release('second');
    await other.onIdle();
    expect(lost).toEqual([]);
  });

  it('reports the runs of a node that died as lost, naming it, and never runs them again', async () => {
    const { node, tasks, queueName } = cluster({ leaseMs: 2_000, maxConcurrency: 0 });
    const a = await node('a');
    await a.enqueue('blocker');
    await tasks.startedCount(1);

    expect(await victimOfKilledNode(a, queueName)).toEqual({ id: 'victim', node: 'doomed', claimed: true });
    expect(a.isRunning('victim')).toBe(false);
    tasks.release('blocker');
    await a.enqueue('after');
    await tasks.startedCount(2);
    tasks.release('after');
    await a.onIdle();
    expect(tasks.started.map((run) => run.id)).toEqual(['blocker', 'after']);
  });

  it('reports a dead node’s run lost though the only live node is paused (its stalled checks go on)', async () => {
    const { node, queueName, tasks } = cluster({ leaseMs: 2_000, maxConcurrency: 0 });
    const a = await node('a');
    // Paused as its engine guard or its shutdown pauses it: it takes nothing, and must still check.
    await a.node.pause();
    expect(await victimOfKilledNode(a, queueName)).toEqual({ id: 'victim', node: 'doomed', claimed: true });
    expect(a.isRunning('victim')).toBe(false);
    // Resumed, it takes runs again (and BullMQ's own checks take over).
    await a.node.resume();
    await a.enqueue('after');
    await tasks.startedCount(1);
    tasks.release('after');
    await a.onIdle();
    expect(tasks.started).toEqual([{ id: 'after', node: 'a' }]);
  });

  it('restores runs in their order even when free workers could take the first ones at once', async () => {
    const { node, tasks } = cluster({ maxConcurrency: 1 });
    const nodes = [await node('a'), await node('b'), await node('c')];
    const ids = ['r1', 'r2', 'r3', 'r4', 'r5'];
    const queuedAt = new Date();
    expect(await nodes[1]!.restoreWaiting(ids.map((id) => ({ id, queuedAt })))).toBe(5);
    for (let index = 0; index < ids.length; index += 1) {
      await tasks.startedCount(index + 1);
      tasks.release(tasks.started[index]!.id);
    }
    expect(tasks.started.map((run) => run.id)).toEqual(ids);
  });

  it('answers UNAVAILABLE while Redis is down, reconnects, and puts lost waiting runs back in order', async () => {
    const { node, tasks } = cluster();
    const [a, b] = [await node('a'), await node('b')];
    await a.pause();
    const queuedAt = new Map<string, Date>();
    for (const id of ['r1', 'r2', 'r3']) {
      await a.enqueue(id);
      queuedAt.set(id, new Date());
    }
    const reset = [a, b].map((queue) => new Promise<void>((resolve) => queue.clusterEvents.once('reset', resolve)));
    await redis.kill9();
    expect((await bosunRefusal(b.enqueue('while-down'))).code).toBe('UNAVAILABLE');
    // The connection says it is down once it has seen the socket close.
    await eventually(() => expect(() => b.assertAdmits()).toThrow(expect.objectContaining({ code: 'UNAVAILABLE' })));

    await redis.restart();
    // The nodes come back by themselves and find the line empty (Redis lost its data).
    await Promise.all(reset);
    expect([a.stats().queued, b.stats().queued]).toEqual([0, 0]);
    await eventually(() => b.assertAdmits());
    await until(b, () => b.stats().paused);
    await b.enqueue('r4');
    const restored = await a.restoreWaiting(['r1', 'r2', 'r3'].map((id) => ({ id, queuedAt: queuedAt.get(id)! })));
    expect(restored).toBe(3);
    expect(await a.restoreWaiting([{ id: 'r1', queuedAt: queuedAt.get('r1')! }])).toBe(0);
    await until(b, () => b.stats().queued === 4);
    expect(b.waitingIds()).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(a.waitingIds()).toEqual(['r1', 'r2', 'r3', 'r4']);
    await a.resume();
    for (let index = 0; index < 4; index += 1) {
      await tasks.startedCount(index + 1);
      tasks.release(tasks.started[index]!.id);
    }
    expect(tasks.started.map((run) => run.id)).toEqual(['r1', 'r2', 'r3', 'r4']);
  });

  describe('after Redis came back without its data', () => {
    const leaseMs = 2_000;

    /** Resolves once BullMQ's stalled check (every half lease) has run `count` more times on `queueName`. */
    async function stalledChecks(probe: Redis, queueName: string, count: number): Promise<void> {
      const seen = new Set<string>();
      const first = await probe.get(`bosun:${queueName}:stalled-check`);
      while (seen.size < count) {
        const stamp = await probe.get(`bosun:${queueName}:stalled-check`);
        if (stamp !== null && stamp !== first) seen.add(stamp);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }

    async function loseData(nodes: readonly BullMqExecutionQueue[]): Promise<void> {
      const reset = nodes.map((queue) => new Promise<void>((resolve) => queue.clusterEvents.once('reset', resolve)));
      await redis.kill9();
      await redis.restart();
      await Promise.all(reset);
    }

    it('counts a run that went on running against the limit: the next run waits for its slot, through the stalled checks', async () => {
      const { node, tasks, queueName } = cluster({ maxConcurrency: 1, leaseMs });
      // Node b reads the database's RUNNING runs as the app does (here: what the tasks run).
      const nodes = [await node('a'), await node('b', { runningRuns: () => Promise.resolve(tasks.started.map((run) => run.id)) })];
      const lost: string[] = [];
      for (const queue of nodes) queue.clusterEvents.on('lost', ({ id }) => lost.push(id));
      await nodes[0]!.enqueue('r1');
      await tasks.startedCount(1);
      await loseData(nodes);
      const probe = new Redis(redis.url);
      try {
        expect(await probe.lrange(`bosun:${queueName}:active`, 0, -1)).toEqual(['r1']);
        await eventually(() => nodes[1]!.assertAdmits());
        await nodes[1]!.enqueue('r2');
        // The lock of r1 is renewed by its node's worker: the stalled checks leave it running.
        await stalledChecks(probe, queueName, 3);
        expect(tasks.started.map((run) => run.id)).toEqual(['r1']);
        expect(nodes.map((queue) => queue.waitingIds())).toEqual([['r2'], ['r2']]);
        expect(await probe.lrange(`bosun:${queueName}:active`, 0, -1)).toEqual(['r1']);
        // Its end frees its slot as any run's does.
        tasks.release('r1');
        await tasks.startedCount(2);
        expect(tasks.started.map((run) => run.id)).toEqual(['r1', 'r2']);
        expect(tasks.peak).toBe(1);
        tasks.release('r2');
        for (const queue of nodes) await until(queue, () => queue.stats().running === 0);
        expect(lost).toEqual([]);
      } finally {
        probe.disconnect();
      }
    });

    // Redis flushed without a reconnection: only the node whose admission is refused 'unsettled'
    // notices. It holds the slot of the run another node runs, and its reset event makes that node
    // resync and take the run over, before the hold lapses (which would make its run look lost).
    it('keeps a run running on a node that did not notice a flush, counted again by it', async () => {
      const { node, tasks, queueName } = cluster({ maxConcurrency: 2, leaseMs });
      const runningRuns = (): Promise<readonly string[]> => Promise.resolve(tasks.started.map((run) => run.id));
      const a = await node('a', { runningRuns });
      const b = await node('b', { runningRuns });
      await a.node.pause();
      await b.enqueue('r1');
      await tasks.startedCount(1);
      expect(tasks.started[0]).toEqual({ id: 'r1', node: 'b' });
      const lost: string[] = [];
      for (const queue of [a, b]) queue.clusterEvents.on('lost', ({ id }) => lost.push(id));
      const probe = new Redis(redis.url);
      try {
        const reset = new Promise<void>((resolve) => a.clusterEvents.once('reset', resolve));
        await probe.flushall();
        // a finds the loss at its next admission, holds r1's slot and settles the data set.
        expect((await bosunRefusal(a.enqueue('x'))).code).toBe('UNAVAILABLE');
        await reset;
        expect(await probe.lrange(`bosun:${queueName}:active`, 0, -1)).toEqual(['r1']);
        // Past the hold's lease (2 s) and the stalled checks that find it.
        await stalledChecks(probe, queueName, 5);
        expect(lost).toEqual([]);
        expect(tasks.running).toBe(1);
        tasks.release('r1');
      } finally {
        probe.disconnect();
      }
    });

    // A node that starts on a data set that lost its data, before the other nodes found the loss,
    // holds the slots of the runs the database has RUNNING before it admits anything: otherwise
    // runs would start beside the ones still running, above the cluster's limit.
    it('holds the runs still running when a node starts after the loss, before the others found it', async () => {
      const { node, tasks, queueName } = cluster({ maxConcurrency: 1, leaseMs });
      const runningRuns = (): Promise<readonly string[]> => Promise.resolve(tasks.started.map((run) => run.id));
      const a = await node('a', { runningRuns });
      await a.enqueue('r1');
      await tasks.startedCount(1);
      const probe = new Redis(redis.url);
      try {
        await probe.flushall();
        // c starts (a restart, a new node) before a has found the loss.
        const c = await node('c', { runningRuns });
        await c.enqueue('r2');
        // r2 must wait for r1's slot (limit 1); give a worker every chance to start it.
        await stalledChecks(probe, queueName, 2);
        expect(tasks.started.map((run) => run.id)).toEqual(['r1']);
        expect(tasks.peak).toBe(1);
        tasks.release('r1');
        // Its slot freed, r2 starts (and ends: a task held at close would hold the close).
        await tasks.startedCount(2);
        expect(tasks.peak).toBe(1);
        tasks.release('r2');
      } finally {
        probe.disconnect();
      }
    });

    it('holds the slot of a run the database has RUNNING until its node takes it over, or for a lease when none does', async () => {
      const { node, tasks, queueName } = cluster({ maxConcurrency: 1, leaseMs });
      // A run the database has RUNNING that no node runs (its node died, or it ended meanwhile).
      const nodes = [
        await node('a', { runningRuns: () => Promise.resolve(['ghost']) }),
        await node('b', { runningRuns: () => Promise.resolve(['ghost']) }),
      ];
      const lost: string[] = [];
      const finished: string[] = [];
      for (const queue of nodes) {
        queue.clusterEvents.on('lost', ({ id }) => lost.push(id));
        queue.events.on('finished', ({ id }) => finished.push(id));
      }
      await loseData(nodes);
      const probe = new Redis(redis.url);
      try {
        expect(await probe.lrange(`bosun:${queueName}:active`, 0, -1)).toEqual(['ghost']);
        await nodes[0]!.enqueue('r1');
        expect(tasks.started).toEqual([]);
        // Nobody takes the hold over: it lapses, the stalled check fails it, and r1 gets the slot.
        await tasks.startedCount(1);
        expect(tasks.started.map((run) => run.id)).toEqual(['r1']);
        expect(await probe.lrange(`bosun:${queueName}:active`, 0, -1)).toEqual(['r1']);
        tasks.release('r1');
        for (const queue of nodes) await until(queue, () => queue.stats().running === 0);
        // No node showed the hold running: nothing is recorded for it.
        expect(lost).toEqual([]);
        expect(finished.filter((id) => id === 'ghost')).toEqual([]);
      } finally {
        probe.disconnect();
      }
    });
  });
});

/**
 * A child node `doomed` (lease 2 s) takes run `victim`, enqueued on `a`, and is killed with SIGKILL
 * while it runs it; resolves with the `lost` event `a` then emits.
 */
async function victimOfKilledNode(a: BullMqExecutionQueue, queueName: string): Promise<ClusterQueueEvents['lost'][0]> {
  const { child, waitLine } = spawnNode(queueName, 'doomed', 2_000);
  await waitLine('ready');
  const startedThere = waitLine('started victim');
  const lost = new Promise<ClusterQueueEvents['lost'][0]>((resolve) => a.clusterEvents.once('lost', resolve));
  await a.enqueue('victim');
  await startedThere;
  // Recorded by an event that changes no count (no status follows it).
  await eventually(() => expect(a.nodeOf('victim')).toBe('doomed'));
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
  return lost;
}
