/**
 * Subscriptions over SSE are streaming connections like WebSockets: 160 of them that never read
 * exhausted the heap, and no cap covered them. Now they take the same MAX_WS_CONNECTIONS slots
 * (the 501st streaming connection gets 503, whichever transport), and an SSE response whose client
 * does not read is cut once more than 8 MiB wait for it. The clients are raw TCP sockets that send
 * their request and never read.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SSE_HARD_BUFFER_BYTES } from '../../src/server/server-limits.js';
import { makeLogLine, makeRun } from '../helpers/fixtures.js';
import { eventually } from '../helpers/graphql-clients.js';
import {
  API_TOKEN,
  bearer,
  handshake,
  parseGraphQL,
  rawRequest,
  startHardenedServer,
  wsClient,
  type GraphQLBody,
  type HardenedServer,
} from './hardened-server.js';

let test: HardenedServer | undefined;
let sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets = [];
  await test?.close();
  test = undefined;
});

const SUBSCRIPTION = 'subscription { queueStatusChanged { queued } }';

/** An SSE request on a raw socket that is never read from. */
async function unreadSse(url: string, query: string, headers: Record<string, string> = {}): Promise<Socket> {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.pause();
  const body = JSON.stringify({ query });
  const head = [
    'POST /graphql HTTP/1.1',
    `Host: 127.0.0.1:${port}`,
    'Content-Type: application/json',
    'Accept: text/event-stream',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ].join('\r\n');
  socket.write(`${head}\r\n\r\n${body}`);
  return socket;
}

/** The `next` payloads of an SSE body. */
const sseData = (body: string): GraphQLBody[] =>
  body
    .split('\n\n')
    .filter((block) => block.startsWith('event: next'))
    .map((block) => parseGraphQL(block.slice(block.indexOf('data: ') + 6)));

describe('SSE subscriptions', () => {
  it('count against MAX_WS_CONNECTIONS: the 501st streaming connection gets 503, SSE or WebSocket', async () => {
    test = await startHardenedServer({ apiToken: API_TOKEN });
    const token = bearer(API_TOKEN);
    const { client } = wsClient(test.wsUrl, token);
    const iterator = client.iterate({ query: SUBSCRIPTION });
    await iterator.next();
    for (let index = 0; index < 499; index += 1) await unreadSse(test.url, SUBSCRIPTION, token);
    await eventually(() => test!.server.streams.size === 500, 'the 500 subscriptions to be open', 10_000);

    const refused = await rawRequest(test.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...token },
      body: JSON.stringify({ query: SUBSCRIPTION }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(sseData(refused.body)).toEqual([
      {
        errors: [
          {
            message: 'Too many streaming connections (WebSocket and SSE together, at most 500); try again later',
            extensions: { code: 'RATE_LIMITED' },
          },
        ],
      },
    ]);
    expect(await handshake(test.wsUrl)).toMatchObject({ open: false, status: 503 });
    expect(test.server.connections.streams).toBe(500);
    // The refused subscription was ended: nothing of it is left open.
    expect(test.server.streams.size).toBe(500);
    // Queries are no streaming connection: they still run.
    const query = await rawRequest(test.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...token },
      body: JSON.stringify({ query: '{ queueStatus { queued } }' }),
    });
    expect(JSON.parse(query.body)).toEqual({ data: { queueStatus: { queued: 0 } } });

    // A connection that goes frees its slot.
    sockets.pop()!.destroy();
    await eventually(() => test!.server.connections.streams === 499, 'the slot to be free');
    expect(await handshake(test.wsUrl)).toEqual({ open: true });
    await iterator.return?.();
    await client.dispose();
  });

  it(`are cut once more than ${SSE_HARD_BUFFER_BYTES / 1024 ** 2} MiB wait for a client that does not read`, async () => {
    test = await startHardenedServer();
    // A finished run with 24 lines of 1 MiB: its agentRunUpdated event alone is 24 MiB.
    const lines = Array.from({ length: 24 }, (_, index) =>
      makeLogLine({ runId: 'big', seq: index + 1, line: String.fromCharCode(97 + index).repeat(1024 ** 2) }),
    );
    test.services.runs.seed(makeRun({ id: 'big', status: 'SUCCEEDED' }), lines);
    const socket = await unreadSse(test.url, 'subscription { agentRunUpdated(agentId: "big") { id logs(last: 24) { line } } }');
    const closed = once(socket, 'close');
    await eventually(
      () => test!.logger.entries.some((entry) => entry.msg === 'SSE response cut: subscriber too slow'),
      'the response to be cut',
      10_000,
    );
    const cut = test.logger.entries.find((entry) => entry.msg === 'SSE response cut: subscriber too slow')!;
    expect(cut.level).toBe('warn');
    expect(cut.fields['bufferedBytes']).toBeGreaterThan(SSE_HARD_BUFFER_BYTES);
    await eventually(() => test!.server.connections.streams === 0 && test!.server.streams.size === 0, 'its slot and stream to be let go');
    // The client sees what the kernel had taken, then the end of the connection.
    socket.resume();
    await closed;

    // The same for a query whose answer is streamed as SSE.
    const query = await unreadSse(test.url, '{ agentRun(id: "big") { logs(last: 24) { line } } }');
    const queryClosed = once(query, 'close');
    await eventually(
      () => test!.logger.entries.filter((entry) => entry.msg === 'SSE response cut: subscriber too slow').length === 2,
      'the query response to be cut',
      10_000,
    );
    query.resume();
    await queryClosed;
    // And the server goes on.
    const health = await rawRequest(`${test.origin}/health`);
    expect(health.status).toBe(200);
  });
});
