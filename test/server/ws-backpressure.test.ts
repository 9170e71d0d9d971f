/**
 * backpressuredSend over a real WebSocket pair: a client that reads gets every message and every
 * send resolves; a client that stops reading holds sends back (and is given up on past the hard
 * limit), and they go on once it reads again.
 */
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { afterEach, expect, it } from 'vitest';
import { backpressuredSend } from '../../src/server/ws-backpressure.js';
import { eventually, within } from '../helpers/graphql-clients.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function pair(): Promise<{ server: WebSocket; client: WebSocket; received: string[]; tcp: Socket }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const [server] = (await once(wss, 'connection')) as [WebSocket];
  await once(client, 'open');
  const received: string[] = [];
  client.on('message', (data) => received.push((data as Buffer).toString()));
  cleanups.push(
    () => new Promise((resolve) => wss.close(resolve)),
    () => client.terminate(),
  );
  return { server, client, received, tcp: (client as unknown as { _socket: Socket })._socket };
}

it('resolves every send to a client that reads, which gets every message in order', async () => {
  const { server, received } = await pair();
  const send = backpressuredSend(server, { softBytes: 1024, hardBytes: 1024 * 1024, onTooSlow: () => undefined });
  for (let index = 0; index < 1000; index += 1) await within(send(`message ${index}`), `send ${index}`);
  await eventually(() => received.length === 1000, 'every message');
  expect(received.at(-1)).toBe('message 999');
  expect(received.every((text, index) => text === `message ${index}`)).toBe(true);
});

it('holds sends back while the client does not read, lets them go once it does, and gives up past the hard limit', async () => {
  const { server, tcp, received } = await pair();
  const tooSlow: number[] = [];
  const hardBytes = 64 * 1024 * 1024;
  const send = backpressuredSend(server, { softBytes: 1024, hardBytes, onTooSlow: (bytes) => tooSlow.push(bytes), pollMs: 5 });
  tcp.pause();
  const chunk = 'x'.repeat(64 * 1024);
  // Send until a send is held: the kernel's buffers are full and something waits in the socket.
  let held: Promise<void> | undefined;
  let sentCount = 0;
  for (let index = 0; index < 10_000 && held === undefined; index += 1) {
    const sent = send(chunk);
    sentCount += 1;
    const settled = await Promise.race([sent.then(() => true), new Promise<false>((resolve) => setImmediate(() => resolve(false)))]);
    if (!settled) held = sent;
  }
  expect(held, 'a send held back').toBeDefined();
  expect(server.bufferedAmount).toBeGreaterThan(0);
  expect(tooSlow).toEqual([]);
  tcp.resume();
  await within(held!, 'the held send, once the client reads', 10_000);
  await eventually(() => received.length === sentCount, 'every message to arrive', 10_000);

  // Past the hard limit (sends not awaited, as many operations would each have one in flight): given up on, once.
  tcp.pause();
  for (let index = 0; index < 2_000 && tooSlow.length === 0; index += 1) void send(chunk);
  expect(tooSlow).toHaveLength(1);
  expect(tooSlow[0]).toBeGreaterThan(hardBytes);
  void send(chunk);
  expect(tooSlow).toHaveLength(1);
});
