/**
 * `agentLogs` against the real server over the real run service and SQLite store (the sandbox
 * is the fake one: no engine needed), as an attacker with a read token would use it:
 * - many subscriptions that replay a big log and never read hold one replay page each, not the
 *   log (before: each re-read the whole log into memory, and 200 of them on 35 MB of logs
 *   exhausted the heap);
 * - thousands of subscriptions on a waiting run add no work to another run's log lines (before:
 *   every line was offered to every subscription).
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { ShellAgent } from '../../src/agents/shell-agent.js';
import { LOG_REPLAY_PAGE_BYTES, logLineBytes } from '../../src/api/run-streams.js';
import { createSilentLogger } from '../../src/logger.js';
import { AgentExecutionQueue } from '../../src/queue/agent-execution-queue.js';
import { AgentRegistry } from '../../src/runs/agent-registry.js';
import { AgentRunService } from '../../src/runs/agent-run-service.js';
import { createBosunServer, type BosunServer } from '../../src/server/create-server.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { FakeMonitorService } from '../helpers/fake-monitor-service.js';
import { FakeSandboxProvider, Gate } from '../helpers/fake-sandbox.js';
import { makeRun } from '../helpers/fixtures.js';
import { eventually } from '../helpers/graphql-clients.js';
import { createTestLogger } from '../helpers/test-logger.js';
import { NO_WARM_POOL, STORE_OK } from '../helpers/fake-services.js';

const MiB = 1024 ** 2;

interface LogServer {
  readonly server: BosunServer;
  readonly store: SqliteRunStore;
  readonly runs: AgentRunService;
  readonly sandboxes: FakeSandboxProvider;
  readonly wsUrl: string;
  readonly url: string;
}

let open: { server?: BosunServer; shutdown?: () => Promise<void>; sockets: WebSocket[] } = { sockets: [] };
afterEach(async () => {
  for (const socket of open.sockets) socket.terminate();
  await open.server?.close();
  await open.shutdown?.();
  open = { sockets: [] };
});

/** The server over a real AgentRunService and an in-memory SQLite store. */
async function startLogServer(): Promise<LogServer> {
  const store = new SqliteRunStore(openDatabase(':memory:'), { logLinesPerRun: 10_000 });
  // The real queue, one run at a time: the second run waits.
  const queue = new AgentExecutionQueue({
    runTask: (id, signal) => runs.runTask(id, signal),
    maxConcurrency: 1,
    maxQueueLength: 10,
    queueTimeoutMs: 60_000,
  });
  const sandboxes = new FakeSandboxProvider();
  const runs: AgentRunService = new AgentRunService({
    store,
    queue,
    sandboxes,
    agents: new AgentRegistry([new ShellAgent()]),
    defaults: { agent: 'shell', image: 'bosun-sandbox:latest', limits: { cpus: 1, memoryBytes: 256 * MiB, pidsLimit: 100 }, timeoutMs: 60_000 },
    queueTimeoutMs: 60_000,
    stopGraceMs: 100,
    logger: createSilentLogger(),
  });
  const server = createBosunServer({
    config: { host: '127.0.0.1', port: 0 },
    services: { runs, queue, monitor: new FakeMonitorService(), store: { report: () => STORE_OK }, warmPool: NO_WARM_POOL },
    logger: createTestLogger(),
    closeGraceMs: 300,
  });
  open.server = server;
  const { url } = await server.listen();
  open.shutdown = () => runs.shutdown();
  return { server, store, runs, sandboxes, url, wsUrl: url.replace(/^http/, 'ws') };
}

/** What the server sends on graphql-transport-ws, as far as these tests read it. */
interface WsMessage {
  readonly type: string;
  readonly id?: string;
  readonly payload?: { readonly data?: { readonly agentLogs?: { readonly seq: number } } };
}

/** The seqs of the `agentLogs` results of operation `id`. */
const seqsOf = (messages: readonly WsMessage[], id: string): number[] =>
  messages.filter((message) => message.type === 'next' && message.id === id).map((message) => message.payload?.data?.agentLogs?.seq ?? -1);

/** A graphql-transport-ws socket past `connection_init`; `tcp` is its TCP socket, to pause. */
async function connect(wsUrl: string): Promise<{ socket: WebSocket; tcp: Socket; messages: WsMessage[] }> {
  const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
  open.sockets.push(socket);
  const messages: WsMessage[] = [];
  await once(socket, 'open');
  socket.on('message', (data) => messages.push(JSON.parse((data as Buffer).toString('utf8')) as WsMessage));
  socket.send(JSON.stringify({ type: 'connection_init' }));
  await eventually(() => messages.some((message) => message.type === 'connection_ack'), 'connection_ack');
  // ws keeps the TCP socket private; pausing it is what a client that stops reading does.
  return { socket, tcp: (socket as unknown as { _socket: Socket })._socket, messages };
}

const SUBSCRIBE = (agentId: string, afterSeq = 0, id = '1') =>
  JSON.stringify({
    id,
    type: 'subscribe',
    payload: { query: `subscription { agentLogs(agentId: "${agentId}", afterSeq: ${afterSeq}) { seq line } }` },
  });

describe('agentLogs on the real server and store', () => {
  it('holds one replay page per subscription that never reads, not the log: 200 of them on 35 MB of logs', async () => {
    const test = await startLogServer();
    // 10,000 lines (LOG_LINES_PER_RUN) of 3,500 characters: 35 MB, as in the attack.
    await test.store.insert(makeRun({ id: 'big', status: 'SUCCEEDED' }));
    const text = 'z'.repeat(3_500);
    for (let seq = 1; seq <= 10_000; seq += 1) test.store.appendLog('big', 'STDOUT', 1, text);
    await test.store.flush();
    const heapBefore = process.memoryUsage().heapUsed;

    // 20 clients with 10 subscriptions each (what the sockets' buffers take is per socket).
    const subscribers = 200;
    const clients = await Promise.all(Array.from({ length: 20 }, () => connect(test.wsUrl)));
    for (const client of clients) {
      client.tcp.pause();
      for (let id = 1; id <= 10; id += 1) client.socket.send(SUBSCRIBE('big', 0, String(id)));
    }
    await eventually(() => test.server.streams.size === subscribers, 'every subscription to open', 10_000);

    // Whatever the server manages to send meanwhile, what the streams hold stays one page each.
    const pageBound = LOG_REPLAY_PAGE_BYTES + logLineBytes({ line: text } as never);
    let heldBytes = 0;
    for (let turn = 0; turn < 50; turn += 1) {
      heldBytes = Math.max(heldBytes, test.server.streams.bufferedBytes);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(heldBytes).toBeGreaterThan(0);
    expect(heldBytes).toBeLessThanOrEqual(subscribers * pageBound);
    // Before: 200 copies of 35 MB. Now: a page and a socket buffer each.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(1024 * MiB);

    // The server still answers, and a subscriber that reads again gets every line once, in order.
    const answer = await fetch(test.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ agentRun(id: "big") { status } }' }),
    });
    expect(await answer.json()).toEqual({ data: { agentRun: { status: 'SUCCEEDED' } } });
    const reader = clients[0]!;
    for (let id = 2; id <= 10; id += 1) reader.socket.send(JSON.stringify({ id: String(id), type: 'complete' }));
    reader.tcp.resume();
    await eventually(() => reader.messages.some((message) => message.type === 'complete' && message.id === '1'), 'the replay to complete', 30_000);
    expect(seqsOf(reader.messages, '1')).toEqual(Array.from({ length: 10_000 }, (_, index) => index + 1));
  });

  it("adds no work to another run's lines for 2,000 subscriptions on a waiting run", async () => {
    const test = await startLogServer();
    const lines = 500;
    test.sandboxes.on('print', { stdout: Array.from({ length: lines }, (_, index) => `line ${index + 1}`) });
    test.sandboxes.on('wait', { hang: true });
    // The first run takes the slot and waits for its sandbox until the subscriptions are open.
    test.sandboxes.createGate = new Gate();
    const input = { group: { id: 'g', name: 'n' }, config: { steps: ['print'] } };
    const { run: running } = await test.runs.start(input);
    // It waits, then runs until stopped, printing little.
    const { run: waiting } = await test.runs.start({ ...input, config: { steps: ['wait'] } });
    expect((await test.runs.get(waiting.id))?.status).toBe('QUEUED');

    const perSocket = 100;
    const sockets = 20;
    for (let index = 0; index < sockets; index += 1) {
      const { socket } = await connect(test.wsUrl);
      for (let id = 1; id <= perSocket; id += 1) {
        socket.send(
          JSON.stringify({
            id: String(id),
            type: 'subscribe',
            payload: { query: `subscription { agentLogs(agentId: "${waiting.id}", afterSeq: 0) { seq line } }` },
          }),
        );
      }
    }
    await eventually(() => test.server.streams.size === sockets * perSocket, 'every subscription to open', 20_000);
    // One listener for the log lines of every run, whatever follows which run.
    expect(test.runs.events.listenerCount('log')).toBe(1);

    const { socket, messages } = await connect(test.wsUrl);
    socket.send(SUBSCRIBE(running.id));
    await eventually(() => test.server.streams.size === sockets * perSocket + 1, 'the subscription to the running run');
    // What each line of the running run costs: the calls of listeners on the run service.
    let listenerCalls = 0;
    for (const listener of test.runs.events.listeners('log') as ((...args: unknown[]) => void)[]) {
      test.runs.events.off('log', listener);
      test.runs.events.on('log', (...args: unknown[]) => {
        listenerCalls += 1;
        listener(...args);
      });
    }
    const seqBefore = (await test.runs.logs(running.id)).length;
    const waitingBefore = (await test.runs.logs(waiting.id)).length;
    test.sandboxes.createGate.open();
    await eventually(() => messages.some((message) => message.type === 'complete'), 'the running run to finish', 10_000);
    const recorded = (await test.runs.logs(running.id)).length - seqBefore;
    expect(recorded).toBeGreaterThan(lines);
    // One call per line (of either run), none per subscription of the waiting run.
    expect(listenerCalls).toBe(recorded + (await test.runs.logs(waiting.id)).length - waitingBefore);
    expect(seqsOf(messages, '1')).toEqual(Array.from({ length: seqBefore + recorded }, (_, index) => index + 1));
  });
});
