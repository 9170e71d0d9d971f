/**
 * WebSockets that never authenticate. A client held 500 sockets that never sent
 * `connection_init`, reopening each as it closed: an admin got 503 in 3 of 4 tries, and bosun
 * wrote a log line per refusal. Now such sockets are *pending*: at most
 * MAX_PENDING_WS_PER_ADDRESS per address, closed with 4408 after 3 s (and cut if they do not
 * answer the close), outside the MAX_WS_CONNECTIONS streaming slots that authenticated clients
 * use; and refusals are logged as one line per 10 s.
 *
 * The attacker connects from 127.0.0.2, the admin from 127.0.0.1 (both reach the server on
 * 127.0.0.1).
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { WS_INIT_TIMEOUT_MS, WS_STREAMS_FULL_CLOSE } from '../../src/server/server-limits.js';
import { eventually } from '../helpers/graphql-clients.js';
import { API_TOKEN, handshake, startHardenedServer, wsClient, wsRun, type HardenedServer } from './hardened-server.js';

let test: HardenedServer | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await test?.close();
  test = undefined;
});

const ATTACKER = '127.0.0.2';
const TOKEN_PARAMS = { authorization: `Bearer ${API_TOKEN}` };

/** A socket from `localAddress` that never sends anything; resolves once open, or with the refusal's status. */
function idleSocket(
  wsUrl: string,
  localAddress = ATTACKER,
): Promise<{ socket: WebSocket; status?: number; closed: Promise<{ code: number; reason: string }> }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(wsUrl, 'graphql-transport-ws', { localAddress });
    const closed = new Promise<{ code: number; reason: string }>((done) =>
      socket.once('close', (code, reason) => done({ code, reason: String(reason) })),
    );
    cleanups.push(() => socket.terminate());
    socket.once('open', () => resolve({ socket, closed }));
    socket.once('unexpected-response', (request, response) => {
      response.resume();
      request.destroy();
      resolve({ socket, status: response.statusCode ?? 0, closed });
    });
    socket.on('error', () => {});
  });
}

/**
 * Keeps `count` never-initialised sockets open from the attacker's address, reopening each as soon
 * as it closes or is refused, until stopped.
 */
function attack(wsUrl: string, count: number): { stop(): void; readonly opened: number; readonly refused: number; readonly closeCodes: number[] } {
  let stopped = false;
  const stats = { opened: 0, refused: 0, closeCodes: [] as number[] };
  const open = (): void => {
    if (stopped) return;
    const socket = new WebSocket(wsUrl, 'graphql-transport-ws', { localAddress: ATTACKER });
    cleanups.push(() => socket.terminate());
    socket.on('error', () => {});
    socket.once('open', () => (stats.opened += 1));
    socket.once('unexpected-response', (request, response) => {
      stats.refused += 1;
      response.resume();
      request.destroy();
      setTimeout(open, 5);
    });
    socket.once('close', (code) => {
      if (code !== 1006) stats.closeCodes.push(code);
      setTimeout(open, 5);
    });
  };
  for (let index = 0; index < count; index += 1) open();
  return {
    stop: () => (stopped = true),
    get opened() {
      return stats.opened;
    },
    get refused() {
      return stats.refused;
    },
    get closeCodes() {
      return stats.closeCodes;
    },
  };
}

describe('WebSockets that never send connection_init', () => {
  it('cannot keep an authenticated client out, and are logged as a count rather than a line each', async () => {
    test = await startHardenedServer({ apiToken: API_TOKEN, maxWsConnections: 20 });
    const logLinesBefore = test.logger.entries.filter((entry) => entry.level !== 'debug').length;
    const attacker = attack(test.wsUrl, 100);
    cleanups.push(() => attacker.stop());
    await eventually(() => attacker.opened >= 16 && attacker.refused > 50, 'the attacker to hold its sockets and be refused many times');

    // Four tries, spread over more than the init timeout (so the attacker's sockets close and
    // reopen meanwhile): every one gets in.
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const { client } = wsClient(test.wsUrl, TOKEN_PARAMS);
      expect(await wsRun(client, '{ queueStatus { queued } }'), `attempt ${attempt + 1}`).toEqual([{ data: { queueStatus: { queued: 0 } } }]);
      await client.dispose();
      await new Promise((resolve) => setTimeout(resolve, WS_INIT_TIMEOUT_MS / 3));
    }
    // It holds its 16 pending slots and no more.
    expect(test.server.connections.pendingOf(ATTACKER)).toBe(16);
    expect(test.server.connections.streams).toBe(0);
    expect(attacker.closeCodes).toContain(4408);
    expect(attacker.closeCodes.every((code) => code === 4408)).toBe(true);
    attacker.stop();

    // Hundreds of refusals, and at most two lines about them in these few seconds (the first one
    // at once, then a summary at most every 10 s).
    expect(attacker.refused).toBeGreaterThan(100);
    const lines = test.logger.entries.filter((entry) => entry.level !== 'debug').slice(logLinesBefore);
    expect(lines.length, JSON.stringify(lines.map((line) => line.msg))).toBeLessThanOrEqual(2);
    expect(lines[0]?.msg).toMatch(
      /WebSocket upgrade refused: Too many WebSocket connections from this address are waiting for connection_init \(at most 16\)/,
    );
    await eventually(() => test!.server.connections.pending === 0, "the attacker's sockets to be gone", 2 * WS_INIT_TIMEOUT_MS);
  });

  it(`are closed with 4408 after ${WS_INIT_TIMEOUT_MS} ms, freeing their address's pending slots`, async () => {
    test = await startHardenedServer({ apiToken: API_TOKEN, maxPendingWsPerAddress: 3 });
    const sockets = await Promise.all([1, 2, 3].map(() => idleSocket(test!.wsUrl)));
    expect(sockets.map((socket) => socket.status)).toEqual([undefined, undefined, undefined]);
    expect(test.server.connections.pending).toBe(3);
    // The full address gets no more; another address still does.
    expect((await idleSocket(test.wsUrl)).status).toBe(503);
    expect(await handshake(test.wsUrl)).toEqual({ open: true });
    const closes = await Promise.all(sockets.map((socket) => socket.closed));
    expect(closes).toEqual(Array.from({ length: 3 }, () => ({ code: 4408, reason: 'Connection initialisation timeout' })));
    await eventually(() => test!.server.connections.pending === 0, 'the pending slots to be free');
    expect((await idleSocket(test.wsUrl)).status).toBeUndefined();
  });

  it('are cut when they do not answer the close either, instead of holding the slot for 30 s', async () => {
    test = await startHardenedServer({ apiToken: API_TOKEN });
    const { port } = new URL(test.url);
    // A handshake by hand, then nothing: no connection_init, no answer to the close frame.
    const raw: Socket = connect({ port: Number(port), host: '127.0.0.1', localAddress: ATTACKER });
    cleanups.push(() => raw.destroy());
    raw.on('error', () => {});
    await once(raw, 'connect');
    raw.write(
      `GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n`,
    );
    const [head] = (await once(raw, 'data')) as [Buffer];
    expect(String(head)).toMatch(/^HTTP\/1\.1 101 /);
    raw.pause();
    expect(test.server.connections.pending).toBe(1);
    const closed = once(raw, 'close');
    // The init timeout, then at most a second's grace.
    await eventually(() => test!.server.wsServer.clients.size === 0, 'the server to cut the socket', 2 * WS_INIT_TIMEOUT_MS);
    expect(test.server.connections.pending).toBe(0);
    raw.resume();
    await closed;
  });
});

/** A graphql-ws client with the token that connects at once and stays connected until disposed. */
async function connectedClient(wsUrl: string): Promise<Client> {
  let onConnected: () => void = () => {};
  const connected = new Promise<void>((resolve) => (onConnected = resolve));
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    connectionParams: TOKEN_PARAMS,
    on: { connected: () => onConnected() },
  });
  cleanups.push(() => void client.dispose());
  await connected;
  return client;
}

describe('streaming slots (MAX_WS_CONNECTIONS)', () => {
  it('are taken by WebSockets once their connection_init is accepted; the next one waits for a free slot', async () => {
    test = await startHardenedServer({ apiToken: API_TOKEN, maxWsConnections: 2 });
    const clients = [await connectedClient(test.wsUrl), await connectedClient(test.wsUrl)];
    expect(test.server.connections.streams).toBe(2);
    // The upgrade is refused while every slot is taken...
    const refused = await handshake(test.wsUrl);
    expect(refused).toMatchObject({ open: false, status: 503 });
    expect((refused as { body: string }).body).toMatch(/Too many streaming connections \(WebSocket and SSE together, at most 2\)/);
    // ...and a socket that got in as pending before that is closed at connection_init with 1013.
    await clients[1]!.dispose();
    await eventually(() => test!.server.connections.streams === 1, 'a slot to be free');
    const pending = await idleSocket(test.wsUrl, '127.0.0.1');
    expect(pending.status).toBeUndefined();
    const third = await connectedClient(test.wsUrl);
    pending.socket.send(JSON.stringify({ type: 'connection_init', payload: TOKEN_PARAMS }));
    expect(await pending.closed).toEqual({ code: WS_STREAMS_FULL_CLOSE.code, reason: WS_STREAMS_FULL_CLOSE.reason });
    await third.dispose();
    await clients[0]!.dispose();
    await eventually(() => test!.server.connections.streams === 0 && test!.server.connections.pending === 0, 'every slot to be free');
  });

  it('MAX_PENDING_WS_PER_ADDRESS defaults to 16 and is validated at start-up', () => {
    expect(loadConfig({}, 2).maxPendingWsPerAddress).toBe(16);
    expect(loadConfig({ MAX_PENDING_WS_PER_ADDRESS: '4' }, 2).maxPendingWsPerAddress).toBe(4);
    for (const raw of ['0', '-1', 'many', '1.5']) {
      expect(() => loadConfig({ MAX_PENDING_WS_PER_ADDRESS: raw }, 2)).toThrow(ConfigError);
    }
    expect(() => loadConfig({ MAX_PENDING_WS_PER_ADDRESS: '0' }, 2)).toThrow('MAX_PENDING_WS_PER_ADDRESS="0": expected an integer from 1 to 100000');
  });
});
