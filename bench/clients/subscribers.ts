/**
 * The subscriber side of the fan-out and memory benchmarks, in its own process (forked by the
 * parent): many WebSocket clients on one event loop, each one a plain `ws` socket. Once
 * subscribed, every socket does the same work whatever the server — receive a frame, time it,
 * count it — so that client-side costs are identical for bosun and for the raw baseline.
 *
 * - `graphql-ws` sockets speak the graphql-transport-ws protocol (connection_init → ack →
 *   subscribe to `queueStatusChanged`; the first `next` is the snapshot and marks the socket ready).
 * - `raw` sockets are ready when open.
 *
 * Messages from the parent: `open` {targets, count} → `opened`; `fanout` {changes} → `result`
 * with every delivery's latency; `close` → exit.
 *
 * Latency = the time this process received the message − the time this process sent the HTTP
 * request that causes it (bosun: the `setMaxConcurrency` mutation; raw: `POST /publish`), both
 * from performance.now() in this process. It includes the HTTP request, the server's work, the
 * broadcast and this process's receive queue, on both sides alike.
 */
import WebSocket from 'ws';

interface Target {
  readonly name: string;
  readonly protocol: 'graphql-ws' | 'raw';
  readonly wsUrl: string;
  /** bosun's GraphQL URL (the mutation) or the raw server's /publish URL. */
  readonly triggerUrl?: string;
}

interface Group {
  readonly target: Target;
  readonly sockets: WebSocket[];
  /** Called on each counted message. */
  onMessage: (at: number) => void;
}

const SUBSCRIPTION = 'subscription { queueStatusChanged { running queued maxConcurrency utilizationPercent paused } }';
const MUTATION = 'mutation ($v: Int!) { setMaxConcurrency(value: $v) { maxConcurrency } }';
const CONNECT_BATCH = 50;

const groups: Group[] = [];
const send = (message: Record<string, unknown>) => process.send?.(message);

/** A frame's text: ws hands over a Buffer, or an ArrayBuffer or fragments when told to. */
function textOf(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Buffer.from(new Uint8Array(data)).toString('utf8');
}

function openSocket(group: Group): Promise<WebSocket> {
  const { target } = group;
  return new Promise((resolve, reject) => {
    const socket = target.protocol === 'graphql-ws' ? new WebSocket(target.wsUrl, 'graphql-transport-ws') : new WebSocket(target.wsUrl);
    let ready = false;
    const markReady = () => {
      ready = true;
      resolve(socket);
    };
    socket.on('error', (error) => (ready ? undefined : reject(error)));
    socket.on('open', () => {
      if (target.protocol === 'graphql-ws') socket.send(JSON.stringify({ type: 'connection_init' }));
      else markReady();
    });
    socket.on('message', (data) => {
      const at = performance.now();
      // Once subscribed, a frame is only timed and counted (the server sends nothing but `next` then):
      // the client's per-message cost stays as small as possible and the same on both sides.
      if (ready) return group.onMessage(at);
      const message = JSON.parse(textOf(data)) as { type?: string };
      if (target.protocol === 'graphql-ws') {
        if (message.type === 'connection_ack') {
          socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION } }));
          return;
        }
        if (message.type === 'ping') {
          socket.send(JSON.stringify({ type: 'pong' }));
          return;
        }
        if (message.type === 'next' && !ready) return markReady();
        if (message.type !== 'next') return;
      }
      group.onMessage(at);
    });
  });
}

async function open(targets: readonly Target[], count: number): Promise<void> {
  for (const target of targets) {
    const group: Group = { target, sockets: [], onMessage: () => {} };
    groups.push(group);
    for (let opened = 0; opened < count; opened += CONNECT_BATCH) {
      const batch = Math.min(CONNECT_BATCH, count - opened);
      group.sockets.push(...(await Promise.all(Array.from({ length: batch }, () => openSocket(group)))));
    }
  }
}

async function trigger(group: Group, change: number): Promise<void> {
  const { target } = group;
  const value = change % 2 === 0 ? 3 : 2;
  const response =
    target.protocol === 'graphql-ws'
      ? await fetch(target.triggerUrl!, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ query: MUTATION, variables: { v: value } }),
        })
      : await fetch(`${target.triggerUrl!}?v=${value}`, { method: 'POST' });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`${target.name} trigger failed: HTTP ${response.status}`);
}

/** One change: trigger, then wait until every socket of the group got its message. */
async function deliverOnce(group: Group, change: number, latencies: number[], lasts: number[]): Promise<number> {
  const expected = group.sockets.length;
  let received = 0;
  let last = 0;
  let done: () => void = () => {};
  const all = new Promise<void>((resolve) => (done = resolve));
  const sent = performance.now();
  group.onMessage = (at) => {
    latencies.push(at - sent);
    last = at - sent;
    received += 1;
    if (received === expected) done();
  };
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, 10_000).unref());
  await Promise.all([trigger(group, change), Promise.race([all, timeout])]);
  group.onMessage = () => {};
  lasts.push(last);
  return expected - received;
}

async function fanout(changes: number): Promise<void> {
  const results = groups.map(() => ({ latencies: [] as number[], lasts: [] as number[], missing: 0 }));
  for (let change = 0; change < changes; change += 1) {
    // Interleaved: bosun's change, then the raw broadcast's, and so on.
    for (const [index, group] of groups.entries()) {
      const result = results[index]!;
      result.missing += await deliverOnce(group, change, result.latencies, result.lasts);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  send({
    type: 'result',
    results: groups.map((group, index) => ({ name: group.target.name, ...results[index] })),
  });
}

process.on('message', (message: { type: string; targets?: Target[]; count?: number; changes?: number }) => {
  const fail = (error: unknown) => send({ type: 'error', message: error instanceof Error ? error.stack : String(error) });
  if (message.type === 'open') open(message.targets!, message.count!).then(() => send({ type: 'opened' }), fail);
  else if (message.type === 'fanout') fanout(message.changes!).catch(fail);
  else if (message.type === 'close') {
    for (const group of groups) for (const socket of group.sockets) socket.terminate();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
