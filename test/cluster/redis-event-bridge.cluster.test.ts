import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { deserialize, serialize } from 'node:v8';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisEventBridge } from '../../src/cluster/redis-event-bridge.js';
import { startRedis, type TestServer } from '../helpers/cluster-servers.js';

interface TestEvents {
  'run-updated': [run: { id: string; queuedAt: Date; tags: Set<string> }];
  log: [line: { runId: string; seq: number; line: string }];
  'container-started': [event: { runId: string }];
}

let redis: TestServer;
const connections: Redis[] = [];
const bridges: RedisEventBridge<TestEvents>[] = [];

function connect(url = redis.url): Redis {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  connections.push(connection);
  return connection;
}

function silentLogger() {
  const warnings: string[] = [];
  const errors: string[] = [];
  return {
    warnings,
    errors,
    warn: (_obj: object, msg?: string) => void warnings.push(msg ?? ''),
    error: (_obj: object, msg?: string) => void errors.push(msg ?? ''),
  };
}

async function node(nodeId: string, options: { maxPendingBytes?: number; publisher?: Redis } = {}) {
  const source = new EventEmitter<TestEvents>();
  const logger = silentLogger();
  const bridge = new RedisEventBridge<TestEvents>({
    emitter: source,
    names: ['run-updated', 'log'],
    channel: 'bosun:test:runs',
    nodeId,
    publisher: options.publisher ?? connect(),
    subscriber: connect(),
    logger,
    ...(options.maxPendingBytes === undefined ? {} : { maxPendingBytes: options.maxPendingBytes }),
  });
  bridges.push(bridge);
  await bridge.start();
  return { source, bridge, logger };
}

/** Resolves with the first `count` events of `name` seen on `emitter`. */
function collect<K extends keyof TestEvents>(emitter: EventEmitter<TestEvents>, name: K, count: number) {
  const seen: TestEvents[K][0][] = [];
  return new Promise<TestEvents[K][0][]>((resolve) => {
    (emitter as unknown as EventEmitter).on(name, (payload: TestEvents[K][0]) => {
      seen.push(payload);
      if (seen.length === count) resolve(seen);
    });
  });
}

beforeAll(async () => {
  redis = await startRedis();
});

afterEach(async () => {
  await Promise.all(bridges.splice(0).map((bridge) => bridge.close()));
  for (const connection of connections.splice(0)) connection.disconnect();
});

afterAll(async () => {
  await redis.stop();
});

describe('RedisEventBridge', () => {
  it("shows a node's events on every node's view, as the same values (dates, sets), and not on the other nodes' sources", async () => {
    const a = await node('a');
    const b = await node('b');
    const onRemoteSource: unknown[] = [];
    b.source.on('run-updated', (run) => onRemoteSource.push(run));
    const atB = collect(b.bridge.events, 'run-updated', 1);
    const queuedAt = new Date('2026-11-30T04:00:00.123Z');

    const atA: unknown[] = [];
    a.bridge.events.on('run-updated', (run) => atA.push(run));
    a.source.emit('run-updated', { id: 'r1', queuedAt, tags: new Set(['x']) });
    // The own node's view has it at once, before any round trip.
    expect(atA).toHaveLength(1);

    const [received] = await atB;
    expect(received!.queuedAt).toBeInstanceOf(Date);
    expect(received!.queuedAt.getTime()).toBe(queuedAt.getTime());
    expect(received!.tags).toEqual(new Set(['x']));
    expect(onRemoteSource).toEqual([]);
  });

  it('keeps one node’s order, never echoes a node’s own events back, and leaves unbridged events local', async () => {
    const a = await node('a');
    const b = await node('b');
    const atA: number[] = [];
    a.bridge.events.on('log', (line) => atA.push(line.seq));
    const containerAtB: unknown[] = [];
    (b.bridge.events as unknown as EventEmitter).on('container-started', (event) => containerAtB.push(event));
    const atB = collect(b.bridge.events, 'log', 500);

    for (let seq = 1; seq <= 500; seq++) {
      a.source.emit('log', { runId: 'r1', seq, line: `line ${seq}` });
      if (seq % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    a.source.emit('container-started', { runId: 'r1' });
    expect((await atB).map((line) => line.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));

    // A marker from b, sent after a's lines reached b, comes back to a after any echo of them would.
    const marker = collect(a.bridge.events, 'run-updated', 1);
    b.source.emit('run-updated', { id: 'marker', queuedAt: new Date(), tags: new Set() });
    await marker;
    expect(atA).toHaveLength(500);
    expect(containerAtB).toEqual([]);
  });

  it('publishes the events of one turn of the event loop as one message', async () => {
    const a = await node('a');
    const raw = connect();
    await raw.subscribe('bosun:test:runs');
    const messages: Buffer[] = [];
    raw.on('messageBuffer', (_channel: Buffer, message: Buffer) => messages.push(message));
    const b = await node('b');
    const atB = collect(b.bridge.events, 'log', 1000);

    for (let seq = 1; seq <= 1000; seq++) a.source.emit('log', { runId: 'r1', seq, line: 'x' });
    await atB;

    // The raw subscriber reads on its own connection: wait for a's next turn to reach it too.
    a.source.emit('log', { runId: 'r1', seq: 1001, line: 'next turn' });
    await vi.waitFor(() => expect(messages).toHaveLength(2));
    expect((deserialize(messages[0]!) as { events: unknown[] }).events).toHaveLength(1000);
    await vi.waitFor(() => expect(a.bridge.stats.published).toBe(1001));
    await vi.waitFor(() => expect(b.bridge.stats.received).toBe(1001));
  });

  it('delivers the rest of a batch when a listener throws', async () => {
    const a = await node('a');
    const b = await node('b');
    const atB = collect(b.bridge.events, 'log', 2);
    b.bridge.events.on('log', () => {
      throw new Error('listener bug');
    });
    a.source.emit('log', { runId: 'r1', seq: 1, line: 'one' });
    a.source.emit('log', { runId: 'r1', seq: 2, line: 'two' });
    expect((await atB).map((line) => line.line)).toEqual(['one', 'two']);
    expect(b.logger.errors).toEqual(['cluster event listener failed', 'cluster event listener failed']);
  });

  it('drops and counts what Redis does not take while it is away, bounded, with one warning', async () => {
    const down = await startRedis();
    // The publisher's server goes away: its commands wait in the client's offline queue.
    const publisher = connect(down.url);
    await publisher.ping();
    const a = await node('a', { maxPendingBytes: 64 * 1024, publisher });
    await down.stop();
    const big = 'x'.repeat(16 * 1024);
    for (let turn = 0; turn < 20; turn++) {
      a.source.emit('log', { runId: 'r1', seq: turn, line: big });
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(a.bridge.stats.dropped).toBeGreaterThanOrEqual(16);
    expect(a.bridge.stats.published).toBe(0);
    expect(a.logger.warnings).toHaveLength(1);
    // The local view saw every event all the same.
    publisher.disconnect();
  });

  it('unsubscribes when closed, and relays nothing after', async () => {
    const a = await node('a');
    const b = await node('b');
    const c = await node('c');
    const atB: unknown[] = [];
    b.bridge.events.on('log', (line) => atB.push(line));
    const subscribers = async () => (await connect().pubsub('NUMSUB', 'bosun:test:runs'))[1];
    expect(await subscribers()).toBe(3);

    await b.bridge.close();
    expect(await subscribers()).toBe(2);
    const atC = collect(c.bridge.events, 'log', 1);
    a.source.emit('log', { runId: 'r1', seq: 1, line: 'after close' });
    await atC;
    expect(atB).toEqual([]);
  });

  it('ignores, with a warning, a message on its channel that is not one of its own kind', async () => {
    const b = await node('b');
    const a = await node('a');
    const atB = collect(b.bridge.events, 'log', 1);
    await connect().publish('bosun:test:runs', 'not v8 at all');
    await connect().publish('bosun:test:runs', serialize({ origin: 'x', events: 'nope' }));
    a.source.emit('log', { runId: 'r1', seq: 1, line: 'still works' });
    expect((await atB).map((line) => line.line)).toEqual(['still works']);
    expect(b.logger.warnings).toEqual(['unreadable cluster event message ignored', 'unreadable cluster event message ignored']);
  });

  it('refuses options it cannot work with', () => {
    const source = new EventEmitter<TestEvents>();
    const base = { emitter: source, names: ['log'] as const, channel: 'c', publisher: connect(), subscriber: connect(), logger: silentLogger() };
    expect(() => new RedisEventBridge<TestEvents>({ ...base, names: ['log'], nodeId: '' })).toThrow(
      'Expected nodeId to be a non-empty string, got ""',
    );
    expect(() => new RedisEventBridge<TestEvents>({ ...base, names: ['log'], nodeId: 'a', maxPendingBytes: 0 })).toThrow(
      'Expected maxPendingBytes to be a positive integer, got 0',
    );
  });
});
