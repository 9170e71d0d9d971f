/**
 * Subscriptions over graphql-ws with the real graphql-ws client: what each stream sends, when it
 * completes, that errors carry their codes, and that nothing is left listening afterwards.
 */
import type { Client, FormattedExecutionResult } from 'graphql-ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { QueueStats } from '../../src/queue/execution-queue.js';
import WebSocket from 'ws';
import { listenerTotal, type FakeServices } from '../helpers/fake-services.js';
import { makeAlert, makeRun, makeSample } from '../helpers/fixtures.js';
import { createWsClient, eventually, nextResult, within } from '../helpers/graphql-clients.js';
import { startTestServer, type TestServer } from '../helpers/start-test-server.js';
import type { TestLogger } from '../helpers/test-logger.js';

/** A result whose data has the shape `T` the operation selects. */
type Result<T = Record<string, unknown>> = FormattedExecutionResult<T, unknown>;

let test: TestServer<FakeServices>;
let client: Client;
/** Listeners the server itself keeps (metrics) on the fakes. */
let baseline: number;

beforeEach(async () => {
  test = await startTestServer();
  client = createWsClient(test.wsUrl);
  baseline = listenerTotal(test.services);
});

afterEach(async () => {
  await client.dispose();
  await test.close();
});

const INPUT = { group: { id: 'g', name: 'group' }, config: {} };

/** Reads results until the stream completes (with a timeout per result). */
async function rest<T>(iterator: AsyncIterator<Result<T>>): Promise<Result<T>[]> {
  const results: Result<T>[] = [];
  for (;;) {
    const next = await nextResult(iterator);
    if (next.done) return results;
    results.push(next.value);
  }
}

describe('graphql-ws subscriptions', () => {
  it('queueStatusChanged sends the current status, then every change', async () => {
    await test.services.queue.setMaxConcurrency(2);
    const stream = client.iterate({ query: 'subscription { queueStatusChanged { running queued maxConcurrency paused } }' });
    expect((await nextResult(stream)).value).toEqual({
      data: { queueStatusChanged: { running: 0, queued: 0, maxConcurrency: 2, paused: false } },
    });
    await test.services.runs.start(INPUT);
    expect((await nextResult(stream)).value?.data?.['queueStatusChanged']).toEqual({
      running: 1,
      queued: 0,
      maxConcurrency: 2,
      paused: false,
    });
    await test.services.queue.pause();
    expect((await nextResult(stream)).value?.data?.['queueStatusChanged']).toMatchObject({ paused: true });
    await stream.return?.();
  });

  it('queuePositionChanged sends the position, each change, and completes once the run starts', async () => {
    const { runs } = test.services;
    const first = await runs.start(INPUT); // runs at once
    const second = await runs.start(INPUT); // position 1
    const third = await runs.start(INPUT); // position 2
    const stream = client.iterate({
      query: 'subscription ($id: ID!) { queuePositionChanged(agentId: $id) { agentId status position queued running } }',
      variables: { id: third.run.id },
    });
    expect((await nextResult(stream)).value?.data?.['queuePositionChanged']).toEqual({
      agentId: third.run.id,
      status: 'QUEUED',
      position: 2,
      queued: 2,
      running: 1,
    });
    runs.finish(first.run.id);
    runs.startNext(); // the second run starts: the third moves up
    expect((await nextResult(stream)).value?.data?.['queuePositionChanged']).toMatchObject({ status: 'QUEUED', position: 1 });
    runs.finish(second.run.id);
    runs.startNext();
    const remaining = await rest(stream);
    expect(remaining.map((result) => result.data?.['queuePositionChanged'])).toEqual([
      { agentId: third.run.id, status: 'RUNNING', position: 0, queued: 0, running: 1 },
    ]);
    await eventually(() => listenerTotal(test.services) === baseline, 'the stream detached its listeners');
  });

  it('queuePositionChanged answers NOT_FOUND for an unknown run', async () => {
    const stream = client.iterate({ query: 'subscription { queuePositionChanged(agentId: "nope") { position } }' });
    const errors = await rest(stream).then(
      (results) => results.flatMap((result) => result.errors ?? []),
      (thrown: unknown) => thrown as readonly { extensions?: unknown }[],
    );
    expect(errors).toEqual([
      expect.objectContaining({
        message: 'agentId: no agent run with id "nope"',
        extensions: { code: 'NOT_FOUND', field: 'agentId' },
      }),
    ]);
    expect(test.server.streams.size).toBe(0);
  });

  it('agentLogs replays after afterSeq, then follows live lines exactly once, and completes when the run ends', async () => {
    const { runs } = test.services;
    const { run } = await runs.start(INPUT);
    for (const text of ['one', 'two', 'three']) runs.log(run.id, text);
    const stream = client.iterate<{ agentLogs: { seq: number } }>({
      query: 'subscription ($id: ID!, $after: Int) { agentLogs(agentId: $id, afterSeq: $after) { agentId seq stream line } }',
      variables: { id: run.id, after: 1 },
    });
    expect((await nextResult(stream)).value?.data?.['agentLogs']).toEqual({ agentId: run.id, seq: 2, stream: 'STDOUT', line: 'two' });
    expect((await nextResult(stream)).value?.data?.['agentLogs']).toMatchObject({ seq: 3, line: 'three' });
    runs.log(run.id, 'four', 'STDERR');
    expect((await nextResult(stream)).value?.data?.['agentLogs']).toMatchObject({ seq: 4, line: 'four', stream: 'STDERR' });
    runs.log(run.id, 'five');
    runs.finish(run.id, 'FAILED', 'NON_ZERO_EXIT');
    const tail = await rest(stream);
    expect(tail.map((result) => result.data?.['agentLogs'].seq)).toEqual([5]);

    // Resuming from the last line seen sends nothing twice: the run is final, so it completes.
    const resumed = client.iterate<{ agentLogs: { seq: number } }>({
      query: 'subscription ($id: ID!) { agentLogs(agentId: $id, afterSeq: 4) { seq } }',
      variables: { id: run.id },
    });
    expect((await rest(resumed)).map((result) => result.data?.['agentLogs'].seq)).toEqual([5]);
  });

  it('agentRunUpdated follows one run until its final status', async () => {
    const { runs } = test.services;
    await runs.start(INPUT);
    const { run } = await runs.start(INPUT);
    const stream = client.iterate({
      query: 'subscription ($id: ID) { agentRunUpdated(agentId: $id) { id status containerId failureReason } }',
      variables: { id: run.id },
    });
    await eventually(() => test.server.streams.size === 1, 'the subscription is open');
    await runs.cancel(run.id);
    expect((await rest(stream)).map((result) => result.data?.['agentRunUpdated'])).toEqual([
      { id: run.id, status: 'CANCELLED', containerId: null, failureReason: null },
    ]);
  });

  it('resourceSamples and healthAlerts filter what the monitor publishes', async () => {
    const { monitor } = test.services;
    test.services.runs.seed(makeRun({ id: 'a', status: 'RUNNING' }));
    const samples = client.iterate({
      query: 'subscription { resourceSamples(agentId: "a") { containerId agentId cpuPercent at } }',
    });
    const critical = client.iterate({ query: 'subscription { healthAlerts(minLevel: CRITICAL) { id level resolvedAt } }' });
    const any = client.iterate<{ healthAlerts: { id: string } }>({ query: 'subscription { healthAlerts { id level resolvedAt } }' });
    await eventually(() => test.server.streams.size === 3, 'the subscriptions are open');

    monitor.publishSample(makeSample({ runId: 'b', containerId: 'cb' }));
    monitor.publishSample(makeSample({ runId: 'a', containerId: 'ca', cpuPercent: 55.5 }));
    expect((await nextResult(samples)).value?.data?.['resourceSamples']).toEqual({
      containerId: 'ca',
      agentId: 'a',
      cpuPercent: 55.5,
      at: '2025-01-01T00:00:01.000Z',
    });

    monitor.publishAlert(makeAlert({ id: 'w', level: 'WARNING' }));
    monitor.publishAlert(makeAlert({ id: 'c', level: 'CRITICAL' }));
    monitor.publishAlert(makeAlert({ id: 'c', level: 'CRITICAL', resolvedAt: new Date('2025-01-01T00:01:00Z') }));
    expect((await nextResult(critical)).value?.data?.['healthAlerts']).toEqual({ id: 'c', level: 'CRITICAL', resolvedAt: null });
    expect((await nextResult(critical)).value?.data?.['healthAlerts']).toEqual({
      id: 'c',
      level: 'CRITICAL',
      resolvedAt: '2025-01-01T00:01:00.000Z',
    });
    const ids = [await nextResult(any), await nextResult(any), await nextResult(any)].map((r) => r.value?.data?.['healthAlerts'].id);
    expect(ids).toEqual(['w', 'c', 'c']);
  });

  it('executes an event once for 100 subscribers of one document (over 10 sockets), each getting it', async () => {
    const clients = Array.from({ length: 10 }, () => createWsClient(test.wsUrl));
    try {
      const query = 'subscription { queueStatusChanged { running queued maxConcurrency paused } }';
      const streams = clients.flatMap((c) => Array.from({ length: 10 }, () => c.iterate({ query })));
      // Each first gets its own snapshot of the status.
      await Promise.all(streams.map((stream) => nextResult(stream)));
      // One event object for every listener, as the queue emits it; reading `running` means executing it.
      let executions = 0;
      const status = { queued: 4, maxConcurrency: 2, utilizationPercent: 100, paused: false };
      Object.defineProperty(status, 'running', {
        enumerable: true,
        get: () => {
          executions += 1;
          return 2;
        },
      });
      test.services.queue.events.emit('status', status as unknown as QueueStats);
      const results = await Promise.all(streams.map((stream) => nextResult(stream)));
      for (const result of results) {
        expect(result.value).toEqual({ data: { queueStatusChanged: { running: 2, queued: 4, maxConcurrency: 2, paused: false } } });
      }
      expect(executions).toBe(1);
      for (const stream of streams) await stream.return?.();
    } finally {
      for (const c of clients) await c.dispose();
    }
  });

  it('resourceSamples answers NOT_FOUND for an unknown run, and completes once a run is final', async () => {
    const unknown = await rest(client.iterate({ query: 'subscription { resourceSamples(agentId: "nope") { cpuPercent } }' })).then(
      (results) => results.flatMap((result) => result.errors ?? []),
      (thrown: unknown) => thrown as readonly { extensions?: unknown }[],
    );
    expect(unknown).toEqual([expect.objectContaining({ extensions: { code: 'NOT_FOUND', field: 'agentId' } })]);
    expect(test.server.streams.size).toBe(0);
    const { runs, monitor } = test.services;
    const { run } = await runs.start(INPUT);
    const samples = client.iterate<{ resourceSamples: { cpuPercent: number } }>({
      query: `subscription { resourceSamples(agentId: "${run.id}") { cpuPercent } }`,
    });
    const first = nextResult(samples);
    await eventually(() => test.server.streams.size === 1, 'the subscription is open');
    monitor.publishSample(makeSample({ runId: run.id, cpuPercent: 42 }));
    expect((await first).value?.data?.resourceSamples).toEqual({ cpuPercent: 42 });
    runs.finish(run.id);
    expect(await rest(samples)).toEqual([]);
    await eventually(() => test.server.streams.size === 0, 'the stream is closed');
  });

  it('masks unexpected errors over the socket as well', async () => {
    test.services.runs.failNext('get', new Error('docker.sock: permission denied (secret detail)'));
    const results = await rest(client.iterate({ query: 'subscription { queuePositionChanged(agentId: "x") { position } }' }));
    expect(results.flatMap((result) => result.errors ?? [])).toEqual([
      expect.objectContaining({
        message: 'Unexpected error.',
        extensions: expect.objectContaining({ code: 'INTERNAL_SERVER_ERROR' }) as Record<string, unknown>,
      }),
    ]);
    expect(JSON.stringify(results)).not.toContain('secret detail');
  });

  it('answers a syntax error as the operation error, keeping the socket', async () => {
    const broken = await rest(client.iterate({ query: 'subscription { queueStatusChanged {' })).then(
      () => [],
      (errors: unknown) => errors as readonly { message: string }[],
    );
    expect(broken[0]?.message).toMatch(/Syntax Error/);
    expect(await rest(client.iterate({ query: '{ queueStatus { queued } }' }))).toEqual([{ data: { queueStatus: { queued: 0 } } }]);
  });

  it('runs queries and mutations over the socket too, with coded errors', async () => {
    const query = await rest(client.iterate({ query: '{ queueStatus { maxConcurrency } }' }));
    expect(query).toEqual([{ data: { queueStatus: { maxConcurrency: 1 } } }]);
    const mutation = await rest(client.iterate({ query: 'mutation { setMaxConcurrency(value: -1) { maxConcurrency } }' }));
    expect(mutation[0]?.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'value' } });
  });
});

describe('graphql-ws protocol errors', () => {
  /** Opens a raw socket past connection_ack, so that the test can send what the client library would not. */
  async function acknowledgedSocket(): Promise<WebSocket> {
    const socket = new WebSocket(test.wsUrl, 'graphql-transport-ws');
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const acked = new Promise((resolve) => socket.once('message', resolve));
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await within(acked, 'connection_ack');
    return socket;
  }
  const closeOf = (socket: WebSocket): Promise<{ code: number; reason: string }> =>
    within(new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))), 'the socket to close');

  it.each(['next', 'error', 'connection_ack'])('closes with 4400 (not 4500) when a client sends %s, logging no error or stack', async (type) => {
    const socket = await acknowledgedSocket();
    const closed = closeOf(socket);
    const payload = type === 'next' ? { data: { x: 1 } } : type === 'error' ? [{ message: 'x' }] : undefined;
    socket.send(JSON.stringify({ type, ...(type === 'connection_ack' ? {} : { id: '1' }), ...(payload === undefined ? {} : { payload }) }));
    expect(await closed).toEqual({ code: 4400, reason: `Unexpected message of type ${type} received` });
    // Before the socket: the warning that the server listens without tokens.
    const entries = (test.logger as TestLogger).entries.filter((entry) => !entry.msg?.startsWith('server listening'));
    expect(entries.filter((entry) => entry.level === 'error' || entry.level === 'warn').map((entry) => entry.msg)).toEqual([]);
    expect(JSON.stringify(entries)).not.toMatch(/\bat .+[(:]\d+|stack/);
    // The server goes on serving.
    expect(await rest(client.iterate({ query: '{ queueStatus { queued } }' }))).toEqual([{ data: { queueStatus: { queued: 0 } } }]);
  });

  it('still lets graphql-ws refuse a malformed message with 4400', async () => {
    const socket = await acknowledgedSocket();
    const closed = closeOf(socket);
    socket.send('{"type": "subscribe"}');
    expect((await closed).code).toBe(4400);
  });
});

describe('graphql-ws ownership', () => {
  it('leaves no listener on the services once the client unsubscribes or disconnects', async () => {
    const { runs } = test.services;
    await runs.start(INPUT);
    const { run } = await runs.start(INPUT);
    const queries = [
      'subscription { queueStatusChanged { queued } }',
      `subscription { queuePositionChanged(agentId: "${run.id}") { position } }`,
      'subscription { agentRunUpdated { id } }',
      `subscription { agentRunUpdated(agentId: "${run.id}") { id } }`,
      'subscription { resourceSamples { pids } }',
      'subscription { healthAlerts { id } }',
      `subscription { agentLogs(agentId: "${run.id}") { seq } }`,
    ];
    const streams = queries.map((query) => client.iterate({ query }));
    // Pull once on each so that the client sends every subscribe message.
    const pending = streams.map((stream) => stream.next());
    await eventually(() => test.server.streams.size === queries.length, 'every subscription is open');
    expect(listenerTotal(test.services)).toBeGreaterThan(baseline);

    // One unsubscribes on its own…
    await streams[0]?.return?.();
    await eventually(() => test.server.streams.size === queries.length - 1, 'the first stream closed');

    // …then the client goes away with the rest open.
    await client.dispose();
    await Promise.allSettled(pending);
    await eventually(() => test.server.streams.size === 0, 'every stream closed');
    expect(listenerTotal(test.services)).toBe(baseline);
  });

  it('detaches everything on close, and says goodbye to clients with 1001', async () => {
    const closed = new Promise<number>((resolve) => {
      client = createWsClient(test.wsUrl, { onClosed: (code) => resolve(code) });
    });
    const stream = client.iterate({ query: 'subscription { queueStatusChanged { queued } }' });
    await nextResult(stream);
    const remaining = rest(stream).catch(() => []);
    await test.close();
    expect(await within(closed, 'the socket to close')).toBe(1001);
    await remaining;
    expect(test.server.streams.size).toBe(0);
    expect(listenerTotal(test.services)).toBe(0);
  });
});
