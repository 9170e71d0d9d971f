/**
 * A WebSocket client that stops reading must not grow bosun's memory: its `resourceSamples`
 * stream holds a bounded set (the newest sample per container, once it is behind), bosun puts no
 * more into the socket than one result per operation, and a client whose socket has more than
 * 8 MiB waiting anyway (many big results) is disconnected with 1013 "subscriber too slow".
 * The client is a raw `ws` socket whose TCP socket is paused, as a stalled consumer's would be.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { SAMPLE_COALESCE_AFTER } from '../../src/api/monitor-streams.js';
import { WS_HARD_BUFFER_BYTES, WS_SOFT_BUFFER_BYTES, WS_TOO_SLOW_CLOSE } from '../../src/server/server-limits.js';
import { makeLogLine, makeRun, makeSample } from '../helpers/fixtures.js';
import { eventually } from '../helpers/graphql-clients.js';
import { startHardenedServer, type GraphQLBody, type HardenedServer } from './hardened-server.js';

let test: HardenedServer | undefined;
let sockets: WebSocket[] = [];
afterEach(async () => {
  for (const socket of sockets) socket.terminate();
  sockets = [];
  await test?.close();
  test = undefined;
});

/** A graphql-transport-ws message from the server, with what these tests read of a result. */
interface WsMessage {
  readonly type: string;
  readonly id?: string;
  readonly payload?: GraphQLBody<{ resourceSamples?: { containerId?: string; cpuPercent?: number } }>;
}

/** A graphql-transport-ws connection, acknowledged, whose messages are collected as they are read. */
async function connect(wsUrl: string): Promise<{ socket: WebSocket; messages: WsMessage[]; tcp: Socket }> {
  const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
  sockets.push(socket);
  const messages: WsMessage[] = [];
  await once(socket, 'open');
  // With ws's default binaryType ('nodebuffer') every message arrives as one Buffer.
  socket.on('message', (data) => messages.push(JSON.parse((data as Buffer).toString('utf8')) as WsMessage));
  socket.send(JSON.stringify({ type: 'connection_init' }));
  await eventually(() => messages.some((message) => message.type === 'connection_ack'), 'connection_ack');
  // ws keeps the TCP socket private; pausing it is what a client that stops reading does.
  const tcp = (socket as unknown as { _socket: Socket })._socket;
  return { socket, messages, tcp };
}

/** The server's side of its only WebSocket. */
const serverSocket = (server: HardenedServer): WebSocket => {
  const [socket] = [...server.server.wsServer.clients];
  if (!socket) throw new Error('the server holds no WebSocket');
  return socket;
};

describe('a subscriber that stops reading', () => {
  it('holds at most the newest sample per container, and bosun does not fill its socket', async () => {
    test = await startHardenedServer();
    const { socket, messages, tcp } = await connect(test.wsUrl);
    const query = 'subscription { resourceSamples { containerId agentId cpuPercent memoryUsageBytes pids at } }';
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
    await eventually(() => test!.server.streams.size === 1, 'the subscription to open');
    tcp.pause();

    const containers = Array.from({ length: 5 }, (_, index) => `${String(index).repeat(64)}`);
    const server = serverSocket(test);
    // Count what bosun hands the socket.
    let sent = 0;
    const send = server.send.bind(server);
    server.send = ((...args: Parameters<WebSocket['send']>) => {
      sent += 1;
      return send(...args);
    }) as WebSocket['send'];
    let round = 0;
    const publishRound = async (): Promise<void> => {
      for (const containerId of containers) {
        test!.services.monitor.publishSample(makeSample({ containerId, runId: `agent-${containerId.slice(0, 1)}`, cpuPercent: round }));
      }
      round += 1;
      await yieldToIo();
    };
    // Publish until bosun stops sending: the kernel's buffers are full and the client reads nothing.
    let stalledRounds = 0;
    while (stalledRounds < 300 && round < 100_000) {
      const before = sent;
      await publishRound();
      stalledRounds = sent === before ? stalledRounds + 1 : 0;
    }
    expect(stalledRounds, `bosun kept sending for ${round} rounds`).toBe(300);

    // From then on, whatever is published: nothing more goes into the socket, and the stream
    // holds at most the coalescing threshold plus one sample per container.
    const sentAtStall = sent;
    let maxItems = 0;
    for (let extra = 0; extra < 3_000; extra += 1) {
      await publishRound();
      maxItems = Math.max(maxItems, test.server.streams.bufferedItems);
    }
    expect(sent - sentAtStall).toBeLessThanOrEqual(1);
    expect(maxItems).toBeGreaterThanOrEqual(SAMPLE_COALESCE_AFTER);
    expect(maxItems).toBeLessThanOrEqual(SAMPLE_COALESCE_AFTER + containers.length);
    expect(server.bufferedAmount).toBeLessThan(WS_SOFT_BUFFER_BYTES);

    // Once it reads again, it gets the newest sample of every container last.
    const lastRound = round - 1;
    tcp.resume();
    await eventually(
      () =>
        containers.every((containerId) =>
          messages.some(
            (m) => m.payload?.data?.resourceSamples?.containerId === containerId && m.payload.data.resourceSamples.cpuPercent === lastRound,
          ),
        ),
      'the newest sample of each container',
      10_000,
    );
    const received = messages.filter((message) => message.type === 'next').length;
    expect(received).toBeLessThan(round * containers.length);
  });

  it(`is disconnected (${WS_TOO_SLOW_CLOSE.code} "${WS_TOO_SLOW_CLOSE.reason}") once more than 8 MiB wait for it`, async () => {
    test = await startHardenedServer();
    // A run with about 1 MiB of logs: each query for them is a big result.
    const lines = Array.from({ length: 5_000 }, (_, index) => makeLogLine({ runId: 'big', seq: index + 1, line: 'y'.repeat(200) }));
    test.services.runs.seed(makeRun({ id: 'big', status: 'SUCCEEDED' }), lines);
    const { socket, tcp } = await connect(test.wsUrl);
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    tcp.pause();
    const server = serverSocket(test);
    let maxBuffered = 0;
    const watch = setInterval(() => (maxBuffered = Math.max(maxBuffered, server.bufferedAmount)), 5);
    for (let id = 1; id <= 60; id += 1) {
      socket.send(JSON.stringify({ id: String(id), type: 'subscribe', payload: { query: '{ agentRun(id: "big") { logs { seq line } } }' } }));
    }
    await eventually(() => test!.server.wsServer.clients.size === 0, 'the server to drop the socket', 10_000);
    clearInterval(watch);
    expect(maxBuffered).toBeGreaterThan(WS_HARD_BUFFER_BYTES);
    expect(test.logger.entries).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: expect.stringContaining(WS_TOO_SLOW_CLOSE.reason) as string,
        fields: expect.objectContaining({ bufferedBytes: expect.any(Number) as number }) as Record<string, unknown>,
      }),
    );
    tcp.resume();
    // Its close frame sat behind what it never read: it sees the close, or a cut connection.
    expect([WS_TOO_SLOW_CLOSE.code, 1006]).toContain(await closed);
    expect(test.server.streams.size).toBe(0);
  });
});
