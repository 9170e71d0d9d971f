/**
 * The run streams over the fakes, without GraphQL: what each sends, in which order, when it
 * completes, and that it lets go of the services.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { LogLine } from '../../src/runs/agent-run.js';
import type { RunService } from '../../src/runs/run-service.js';
import { agentLogs, agentRunUpdated, LOG_STREAM_CAPACITY, logLineBytes, SUBSCRIBER_TOO_SLOW } from '../../src/api/run-streams.js';
import { StreamFailure, type StreamItem } from '../../src/api/streams/event-channel.js';
import { StreamRegistry } from '../../src/api/streams/stream-registry.js';
import { BosunError } from '../../src/errors.js';
import { ShellAgent } from '../../src/agents/shell-agent.js';
import { createSilentLogger } from '../../src/logger.js';
import { AgentExecutionQueue } from '../../src/queue/agent-execution-queue.js';
import { AgentRegistry } from '../../src/runs/agent-registry.js';
import { AgentRunService } from '../../src/runs/agent-run-service.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { FakeSandboxProvider } from '../helpers/fake-sandbox.js';
import { createFakeServices, listenerTotal, type FakeServices } from '../helpers/fake-services.js';
import type { FakeRunService } from '../helpers/fake-run-service.js';
import { buffered, codeOf, INPUT, nextTurn } from './stream-helpers.js';

let services: FakeServices;
let streams: StreamRegistry;

beforeEach(() => {
  services = createFakeServices();
  streams = new StreamRegistry();
});

const seqs = (items: readonly StreamItem<LogLine>[]): number[] => items.map((item) => (item as LogLine).seq);

describe('agentRunUpdated', () => {
  it('follows one run to its final status, or every run without an id', async () => {
    const { run } = await services.runs.start(INPUT);
    const one = await agentRunUpdated(services, streams, run.id);
    const all = await agentRunUpdated(services, streams, null);
    const { run: other } = await services.runs.start(INPUT);
    services.runs.update(run.id, { exitCode: 0 });
    services.runs.finish(run.id);
    services.runs.update(run.id, { error: 'after the end' });
    expect((await buffered(one)).items.map((item) => (item as { status: string }).status)).toEqual(['RUNNING', 'SUCCEEDED']);
    expect(one.isClosed).toBe(true);
    const seen = (await buffered(all)).items.map((item) => (item as { id: string }).id);
    expect(seen).toEqual([other.id, run.id, run.id, run.id]);
    expect(all.isOpen).toBe(true);
    await all.return();
    expect(listenerTotal(services)).toBe(0);
  });

  it('sends a finished run once and completes; refuses an unknown one', async () => {
    const { run } = await services.runs.start(INPUT);
    services.runs.finish(run.id, 'FAILED', 'NON_ZERO_EXIT');
    const { items, done } = await buffered(await agentRunUpdated(services, streams, run.id));
    expect(items).toMatchObject([{ id: run.id, status: 'FAILED', failureReason: 'NON_ZERO_EXIT' }]);
    expect(done).toBe(true);
    expect(await codeOf(() => agentRunUpdated(services, streams, 'nope'))).toBe('NOT_FOUND');
  });
});

describe('agentLogs', () => {
  it('lets go of its channel and listeners when reading the run after the first page fails', async () => {
    const { run } = await services.runs.start(INPUT);
    const realGet = services.runs.get.bind(services.runs);
    let reads = 0;
    services.runs.get = (id: string) => (++reads === 1 ? realGet(id) : Promise.reject(new Error('SQLITE_IOERR: disk I/O error')));
    await expect(agentLogs(services, streams, run.id, 0)).rejects.toThrow('SQLITE_IOERR');
    expect(reads).toBe(2);
    expect(streams.size).toBe(0);
    expect(listenerTotal(services)).toBe(0);
  });

  /** The fake run service with `logs` replaced. */
  function withLogs(fake: FakeRunService, logs: RunService['logs']): { runs: RunService } {
    const runs: RunService = {
      events: fake.events,
      start: (input) => fake.start(input),
      retry: (id) => fake.retry(id),
      cancel: (id) => fake.cancel(id),
      get: (id) => fake.get(id),
      list: (query) => fake.list(query),
      page: (query) => fake.page(query),
      count: (filter) => fake.count(filter),
      group: (id) => fake.group(id),
      position: (id) => fake.position(id),
      logs,
    };
    return { runs };
  }

  it('replays after afterSeq, then follows live lines, and completes after the final status', async () => {
    const { run } = await services.runs.start(INPUT);
    for (let n = 1; n <= 3; n += 1) services.runs.log(run.id, `line ${n}`);
    const stream = await agentLogs(services, streams, run.id, 1);
    services.runs.log(run.id, 'line 4');
    services.runs.finish(run.id);
    const { items, done } = await buffered(stream);
    expect(seqs(items)).toEqual([2, 3, 4]);
    expect(done).toBe(true);
    expect(listenerTotal(services)).toBe(0);
  });

  it('drops a live line that the replay already holds', async () => {
    const { run } = await services.runs.start(INPUT);
    services.runs.log(run.id, 'line 1');
    const racing = withLogs(services.runs, (id, query) => {
      services.runs.log(id, 'line 2'); // recorded and emitted while the buffer is read
      return services.runs.logs(id, query);
    });
    const stream = await agentLogs(racing, streams, run.id, 0);
    services.runs.log(run.id, 'line 3');
    expect(seqs((await buffered(stream)).items)).toEqual([1, 2, 3]);
  });

  it('keeps a live line that came after the replay was read', async () => {
    const { run } = await services.runs.start(INPUT);
    services.runs.log(run.id, 'line 1');
    const racing = withLogs(services.runs, (id, query) => {
      const snapshot = services.runs.logs(id, query);
      services.runs.log(id, 'line 2'); // emitted after the snapshot was taken
      return snapshot;
    });
    const stream = await agentLogs(racing, streams, run.id, null);
    expect(seqs((await buffered(stream)).items)).toEqual([1, 2]);
  });

  it('sends lines recorded before the final status even if their events never came', async () => {
    const { run } = await services.runs.start(INPUT);
    const stream = await agentLogs(services, streams, run.id, undefined);
    services.runs.log(run.id, 'line 1');
    services.runs.recordSilently(run.id, 'line 2');
    services.runs.finish(run.id);
    const { items, done } = await buffered(stream);
    expect(seqs(items)).toEqual([1, 2]);
    expect(done).toBe(true);
  });

  it('replays a finished run and completes at once', async () => {
    const { run } = await services.runs.start(INPUT);
    services.runs.log(run.id, 'line 1');
    services.runs.log(run.id, 'line 2');
    services.runs.finish(run.id);
    const { items, done } = await buffered(await agentLogs(services, streams, run.id, 0));
    expect(seqs(items)).toEqual([1, 2]);
    expect(done).toBe(true);
  });

  it('ends a stream that falls too far behind with an error that says where to resume', async () => {
    const { run } = await services.runs.start(INPUT);
    for (let n = 1; n <= 5; n += 1) services.runs.log(run.id, `line ${n}`); // replay: not counted
    const stream = await agentLogs(services, streams, run.id, 0, { capacity: 3 });
    for (let n = 6; n <= 10; n += 1) services.runs.log(run.id, `line ${n}`);
    expect(listenerTotal(services)).toBe(0); // stopped listening at the overflow
    const { items, done } = await buffered(stream);
    expect(seqs(items.slice(0, 8))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const failure = items[8];
    expect(failure).toBeInstanceOf(StreamFailure);
    const error = (failure as StreamFailure).error as Error & { extensions: Record<string, unknown> };
    expect(error.extensions).toEqual({ code: SUBSCRIBER_TOO_SLOW, resumeAfterSeq: 8 });
    expect(error.message).toBe('agentLogs: the subscriber fell more than 3 lines behind; subscribe again with afterSeq: 8');
    expect(done).toBe(true);

    // Resuming where it said sends the rest exactly once.
    const resumed = await agentLogs(services, streams, run.id, 8);
    expect(seqs((await buffered(resumed)).items)).toEqual([9, 10]);
  });

  /** Reads `count` items, whatever the stream has buffered (they are there or come at once). */
  async function take(stream: AsyncIterator<StreamItem<LogLine>>, count: number): Promise<StreamItem<LogLine>[]> {
    const items: StreamItem<LogLine>[] = [];
    for (let index = 0; index < count; index += 1) {
      const next = await stream.next();
      if (next.done) break;
      items.push(next.value);
    }
    return items;
  }

  /** The fake run service with each `logs` call recorded. */
  function countingLogs(fake: FakeRunService): { runs: RunService; calls: { afterSeq: number; limit: number | null }[] } {
    const calls: { afterSeq: number; limit: number | null }[] = [];
    return {
      calls,
      ...withLogs(fake, (id, query) => {
        calls.push({ afterSeq: query?.afterSeq ?? 0, limit: query?.limit ?? null });
        return fake.logs(id, query);
      }),
    };
  }

  const range = (first: number, last: number): number[] => Array.from({ length: last - first + 1 }, (_, index) => first + index);

  it('replays in pages, the next read only once the previous page is taken, then follows live lines without gap or duplicate', async () => {
    const { run } = await services.runs.start(INPUT);
    for (let n = 1; n <= 1_250; n += 1) services.runs.log(run.id, `line ${n}`);
    const counted = countingLogs(services.runs);
    const stream = await agentLogs(counted, streams, run.id, 0, { pageLines: 500 });
    expect(counted.calls).toEqual([{ afterSeq: 0, limit: 500 }]);
    expect(stream.buffered).toBe(500);

    expect(seqs(await take(stream, 499))).toEqual(range(1, 499));
    expect(counted.calls).toHaveLength(1);
    // Lines recorded during the replay are not held by the stream: the store has them.
    for (let n = 1_251; n <= 1_300; n += 1) services.runs.log(run.id, `line ${n}`);
    expect(stream.buffered).toBe(1);
    expect(seqs(await take(stream, 1))).toEqual([500]);
    await nextTurn(); // the next page is read on the next turn of the event loop, not inside next()
    expect(counted.calls).toEqual([
      { afterSeq: 0, limit: 500 },
      { afterSeq: 500, limit: 500 },
    ]);
    expect(seqs(await take(stream, 500))).toEqual(range(501, 1_000));
    await nextTurn();
    expect(counted.calls.at(-1)).toEqual({ afterSeq: 1_000, limit: 500 });
    // The last page is short: the stream is live from then on.
    expect(seqs(await take(stream, 300))).toEqual(range(1_001, 1_300));
    expect(counted.calls).toHaveLength(3);
    services.runs.log(run.id, 'line 1301');
    services.runs.log(run.id, 'line 1302');
    services.runs.finish(run.id);
    const { items, done } = await buffered(stream);
    expect(seqs(items)).toEqual([1_301, 1_302]);
    expect(done).toBe(true);
    expect(listenerTotal(services)).toBe(0);
  });

  /** The fake run service, whose log reads answer only when the test lets them (as a remote store), each with the lines stored when it was asked. */
  function slowLogs(fake: FakeRunService): { runs: RunService; pending: Array<() => void> } {
    const pending: Array<() => void> = [];
    return {
      pending,
      ...withLogs(fake, (id, query) => {
        const snapshot = fake.logs(id, query);
        return new Promise((resolve) => pending.push(() => resolve(snapshot)));
      }),
    };
  }

  it('with a store that answers later: sends the lines recorded while a page was read after it, then goes live, with no gap or duplicate', async () => {
    const { run } = await services.runs.start(INPUT);
    for (let n = 1; n <= 5; n += 1) services.runs.log(run.id, `line ${n}`);
    const slow = slowLogs(services.runs);
    const subscribing = agentLogs(slow, streams, run.id, 0, { pageLines: 3 });
    await vi.waitFor(() => expect(slow.pending).toHaveLength(1));
    // Recorded while the first page (1-3) is read: in the store after it, and emitted now.
    services.runs.log(run.id, 'line 6');
    slow.pending.shift()!();
    const stream = await subscribing;
    expect(seqs(await take(stream, 3))).toEqual([1, 2, 3]);
    // The next page (4-6) is read when the first is taken; lines 7 and 8 come while it is read.
    await vi.waitFor(() => expect(slow.pending).toHaveLength(1));
    services.runs.log(run.id, 'line 7');
    services.runs.log(run.id, 'line 8');
    slow.pending.shift()!();
    expect(seqs(await take(stream, 3))).toEqual([4, 5, 6]);
    // The page was full: the next read (7, 8, and 9 recorded during it) is short, and the stream turns live.
    await vi.waitFor(() => expect(slow.pending).toHaveLength(1));
    services.runs.log(run.id, 'line 9');
    slow.pending.shift()!();
    expect(seqs(await take(stream, 3))).toEqual([7, 8, 9]);
    services.runs.log(run.id, 'line 10');
    services.runs.finish(run.id);
    expect(seqs(await take(stream, 1))).toEqual([10]);
    // Final: what the store holds after the last line sent is read once more (nothing), then the end.
    await vi.waitFor(() => expect(slow.pending).toHaveLength(1));
    slow.pending.shift()!();
    const { items, done } = await buffered(stream);
    expect(items).toEqual([]);
    expect(done).toBe(true);
    expect(listenerTotal(services)).toBe(0);
  });

  it('with a store that answers later: a final status that comes while a page is read ends the stream after the lines before it', async () => {
    const { run } = await services.runs.start(INPUT);
    services.runs.log(run.id, 'line 1');
    const slow = slowLogs(services.runs);
    const subscribing = agentLogs(slow, streams, run.id, 0);
    await vi.waitFor(() => expect(slow.pending).toHaveLength(1));
    services.runs.log(run.id, 'line 2');
    services.runs.finish(run.id);
    slow.pending.shift()!();
    const { items, done } = await buffered(await subscribing);
    expect(seqs(items)).toEqual([1, 2]);
    expect(done).toBe(true);
    expect(listenerTotal(services)).toBe(0);
  });

  it('heals a gap that a live line shows while live lines are still buffered: it reads the store once they are taken', async () => {
    const { run } = await services.runs.start(INPUT);
    const stream = await agentLogs(services, streams, run.id, 0);
    // Live, and the subscriber has not taken these yet.
    for (let n = 1; n <= 3; n += 1) services.runs.log(run.id, `line ${n}`);
    // Line 4 recorded on another node (no event here), then line 5's event: a gap.
    services.runs.recordSilently(run.id, 'line 4');
    services.runs.log(run.id, 'line 5');
    const items = await take(stream, 5);
    expect(items.find((item) => item instanceof StreamFailure)).toBeUndefined();
    expect(seqs(items)).toEqual([1, 2, 3, 4, 5]);
    // Live again: the next line comes as it is recorded.
    services.runs.log(run.id, 'line 6');
    expect(seqs(await take(stream, 1))).toEqual([6]);
    expect(stream.isOpen).toBe(true);
  });

  it('cuts a replay page at its byte bound and reads the rest next', async () => {
    const { run } = await services.runs.start(INPUT);
    const long = 'x'.repeat(1_000);
    for (let n = 1; n <= 10; n += 1) services.runs.log(run.id, long);
    const perLine = logLineBytes((await services.runs.logs(run.id, { last: 1 }))[0]!);
    const counted = countingLogs(services.runs);
    const stream = await agentLogs(counted, streams, run.id, 0, { pageBytes: 3 * perLine });
    expect(stream.buffered).toBe(3);
    expect(stream.bufferedBytes).toBe(3 * perLine);
    expect(seqs(await take(stream, 10))).toEqual(range(1, 10));
    expect(counted.calls.map((call) => call.afterSeq)).toEqual([0, 3, 6, 9]);
  });

  it('holds one page for a subscriber that does not read, however much is recorded, and misses nothing once it reads', async () => {
    const { run } = await services.runs.start(INPUT);
    for (let n = 1; n <= 1_000; n += 1) services.runs.log(run.id, `line ${n}`);
    const stream = await agentLogs(services, streams, run.id, 0, { pageLines: 100, capacity: 10 });
    for (let n = 1_001; n <= 20_000; n += 1) services.runs.log(run.id, `line ${n}`);
    expect(stream.buffered).toBe(100);
    expect(stream.isOpen).toBe(true);
    services.runs.finish(run.id);
    expect(listenerTotal(services)).toBe(0);
    // Final: the rest comes from the store, page by page, then the end.
    const items = await take(stream, 30_000);
    expect(seqs(items)).toEqual(range(1, 20_000));
    expect(stream.isClosed).toBe(true);
  });

  it('ends a live stream that falls more than its byte bound behind, saying where to resume', async () => {
    const { run } = await services.runs.start(INPUT);
    const stream = await agentLogs(services, streams, run.id, 0, { capacity: 1_000, capacityBytes: 10_000 });
    const long = 'y'.repeat(1_000);
    for (let n = 1; n <= 20; n += 1) services.runs.log(run.id, long);
    const { items } = await buffered(stream);
    const failure = items.at(-1) as StreamFailure;
    expect(failure).toBeInstanceOf(StreamFailure);
    const kept = items.length - 1;
    expect(kept * logLineBytes(items[0] as LogLine)).toBeLessThanOrEqual(10_000);
    expect((failure.error as Error & { extensions: unknown }).extensions).toEqual({ code: SUBSCRIBER_TOO_SLOW, resumeAfterSeq: kept });
    expect(failure.error.message).toBe(
      `agentLogs: the subscriber fell more than 10000 bytes of lines behind; subscribe again with afterSeq: ${kept}`,
    );
    expect(seqs((await buffered(await agentLogs(services, streams, run.id, kept))).items)).toEqual(range(kept + 1, 20));
  });

  it('pages through what is left once the run is final, then completes', async () => {
    const { run } = await services.runs.start(INPUT);
    const stream = await agentLogs(services, streams, run.id, 0, { pageLines: 4 });
    services.runs.log(run.id, 'live 1');
    for (let n = 2; n <= 10; n += 1) services.runs.recordSilently(run.id, `silent ${n}`);
    services.runs.finish(run.id);
    expect(stream.buffered).toBe(1);
    expect(seqs(await take(stream, 100))).toEqual(range(1, 10));
    expect(stream.isClosed).toBe(true);
  });

  it('ends with the error of a later page read (the run dropped meanwhile)', async () => {
    const { run } = await services.runs.start(INPUT);
    for (let n = 1; n <= 5; n += 1) services.runs.log(run.id, `line ${n}`);
    const stream = await agentLogs(services, streams, run.id, 0, { pageLines: 2 });
    services.runs.failNext('logs', new BosunError('NOT_FOUND', 'dropped'));
    const items = await take(stream, 10);
    expect(seqs(items.slice(0, 2))).toEqual([1, 2]);
    expect(items[2]).toBeInstanceOf(StreamFailure);
    expect(((items[2] as StreamFailure).error as BosunError).code).toBe('NOT_FOUND');
    expect(stream.isClosed).toBe(true);
  });

  it("offers a run's lines only to its own streams: 10,000 streams on a waiting run cost another run's lines nothing", async () => {
    const { run: running } = await services.runs.start(INPUT);
    const { run: waiting } = await services.runs.start(INPUT);
    expect((await services.runs.get(waiting.id))?.status).toBe('QUEUED');
    const waitingStreams = await Promise.all(Array.from({ length: 10_000 }, () => agentLogs(services, streams, waiting.id, 0)));
    let pushesToWaiting = 0;
    for (const stream of waitingStreams) {
      const push = stream.push.bind(stream);
      stream.push = (line) => {
        pushesToWaiting += 1;
        return push(line);
      };
    }
    const follower = await agentLogs(services, streams, running.id, 0);
    // One listener per event on the run service, however many streams follow however many runs.
    expect(services.runs.events.listenerCount('log')).toBe(1);
    expect(services.runs.events.listenerCount('run-updated')).toBe(1);
    // Count every call of a listener of the run service's events.
    let listenerCalls = 0;
    const { events } = services.runs;
    for (const name of ['log', 'run-updated'] as const) {
      for (const listener of events.listeners(name) as ((...args: unknown[]) => void)[]) {
        events.off(name, listener);
        events.on(name, (...args: unknown[]) => {
          listenerCalls += 1;
          listener(...args);
        });
      }
    }

    for (let n = 1; n <= 900; n += 1) services.runs.log(running.id, `line ${n}`);
    services.runs.update(running.id, { exitCode: 0 });
    expect(listenerCalls).toBe(901);
    expect(pushesToWaiting).toBe(0);
    expect(seqs(await take(follower, 900))).toEqual(range(1, 900));

    services.runs.log(waiting.id, 'at last');
    expect(pushesToWaiting).toBe(10_000);
    for (const stream of waitingStreams) await stream.return();
    await follower.return();
    // The counting wrappers stay on the emitter; every stream has let go.
    expect(streams.size).toBe(0);
  });

  it('checks its arguments before listening', async () => {
    const { run } = await services.runs.start(INPUT);
    expect(await codeOf(() => agentLogs(services, streams, run.id, -1))).toBe('BAD_USER_INPUT');
    expect(await codeOf(() => agentLogs(services, streams, 'nope', 0))).toBe('NOT_FOUND');
    services.runs.failNext('logs', new BosunError('NOT_FOUND', 'gone meanwhile'));
    expect(await codeOf(() => agentLogs(services, streams, run.id, 0))).toBe('NOT_FOUND');
    expect(streams.size).toBe(0);
    expect(listenerTotal(services)).toBe(0);
  });
});

describe('agentLogs over the run service and a SQLite store that answers later', () => {
  /** The SQLite store whose log reads answer later: each read is taken when asked, and answers when the test lets it go. */
  class SlowLogStore extends SqliteRunStore {
    slow = false;
    readonly pending: Array<() => void> = [];

    override readLogs(...args: Parameters<SqliteRunStore['readLogs']>): Promise<LogLine[]> {
      const answer = super.readLogs(...args);
      if (!this.slow) return answer;
      return new Promise((resolve, reject) => this.pending.push(() => void answer.then(resolve, reject)));
    }
  }

  it('sends every line once and in order, and does not end the stream, when a run logs more than the live bound while a page is read', async () => {
    const db = openDatabase(':memory:');
    const store = new SlowLogStore(db, { logLinesPerRun: 10_000 });
    const burst = LOG_STREAM_CAPACITY + 500;
    const sandboxes = new FakeSandboxProvider()
      .on('before', { stdout: Array.from({ length: 10 }, (_, n) => `before ${n + 1}`) })
      .on('hold', { hang: true })
      .on('burst', { stdout: Array.from({ length: burst }, (_, n) => `burst ${n + 1}`) })
      .on('wait', { hang: true });
    const queue = new AgentExecutionQueue({
      runTask: (id, signal) => service.runTask(id, signal),
      maxConcurrency: 1,
      maxQueueLength: 10,
      queueTimeoutMs: 600_000,
    });
    const service: AgentRunService = new AgentRunService({
      store,
      queue,
      sandboxes,
      agents: new AgentRegistry([new ShellAgent()]),
      defaults: {
        agent: 'shell',
        image: 'bosun-sandbox:latest',
        limits: { cpus: 1, memoryBytes: 256 * 1024 ** 2, pidsLimit: 100 },
        timeoutMs: 60_000,
      },
      queueTimeoutMs: 600_000,
      stopGraceMs: 100,
      logger: createSilentLogger(),
    });
    try {
      const { run } = await service.start({ group: { id: 'g', name: 'g', runIds: [] }, config: { steps: ['before', 'hold', 'burst', 'wait'] } });
      await vi.waitFor(() => expect(sandboxes.created[0]?.commands.at(-1)).toBe('hold'));
      const sandbox = sandboxes.created[0]!;
      store.slow = true;
      const subscribing = agentLogs({ runs: service }, streams, run.id, 0);
      await vi.waitFor(() => expect(store.pending).toHaveLength(1));
      // While the first page is read, the run logs more lines than a subscriber may fall behind by.
      sandbox.endRunning({ exitCode: 0 });
      await vi.waitFor(() => expect(sandbox.commands.at(-1)).toBe('wait'));
      store.slow = false;
      store.pending.shift()!();
      const stream = await subscribing;

      const expected = async () => (await store.readLogs(run.id)).map((line) => line.seq);
      const all = await expected();
      expect(all.length).toBeGreaterThan(burst);
      const received: StreamItem<LogLine>[] = [];
      while (received.length < all.length) {
        const next = await stream.next();
        if (next.done) break;
        received.push(next.value);
        if (next.value instanceof StreamFailure) break;
      }
      expect(received.find((item) => item instanceof StreamFailure)).toBeUndefined();
      expect(seqs(received)).toEqual(all);
      expect(stream.isOpen).toBe(true);

      // The run ends: its last lines follow, then the end of the stream.
      sandbox.endRunning({ exitCode: 0 });
      const rest: StreamItem<LogLine>[] = [];
      for (let next = await stream.next(); !next.done; next = await stream.next()) rest.push(next.value);
      expect(rest.find((item) => item instanceof StreamFailure)).toBeUndefined();
      expect([...seqs(received), ...seqs(rest)]).toEqual(await expected());
      expect(stream.isClosed).toBe(true);
    } finally {
      await service.shutdown();
      db.close();
    }
  });
});
