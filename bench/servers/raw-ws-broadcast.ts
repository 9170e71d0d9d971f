/**
 * The fan-out baseline: a bare `ws` server that, on `POST /publish?v=<n>`, serializes one
 * graphql-ws `next` message — byte for byte what bosun sends a `queueStatusChanged` subscriber —
 * once, and sends it to every connected client. This is the floor any broadcast in Node pays.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const server = createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://localhost');
  if (request.method !== 'POST' || url.pathname !== '/publish') {
    response.writeHead(404).end();
    return;
  }
  request.resume();
  request.on('end', () => {
    const maxConcurrency = Number(url.searchParams.get('v'));
    const message = JSON.stringify({
      id: '1',
      type: 'next',
      payload: { data: { queueStatusChanged: { running: 0, queued: 0, maxConcurrency, utilizationPercent: 0, paused: false } } },
    });
    for (const client of wss.clients) client.send(message);
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
});
const wss = new WebSocketServer({ server, path: '/ws' });
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'ready', wsUrl: `ws://127.0.0.1:${port}/ws`, publishUrl: `http://127.0.0.1:${port}/publish`, pid: process.pid });
});
process.on('message', (message: { type?: string }) => {
  if (message?.type === 'close') {
    for (const client of wss.clients) client.terminate();
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
