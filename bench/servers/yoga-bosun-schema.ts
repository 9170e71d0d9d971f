/**
 * A diagnostic middle point for the throughput benchmark: the same bare graphql-yoga set-up as
 * yoga-hello.ts (no plugins, no logging), but serving bosun's own schema (src/api) with a
 * context holding a real AgentExecutionQueue, so that `queueStatus` runs bosun's resolver.
 * bosun vs this server = what bosun's server set-up (plugins, context, error masking) costs;
 * this server vs hello = what the schema and resolver cost.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createYoga } from 'graphql-yoga';
import { AgentExecutionQueue } from '../../src/queue/agent-execution-queue.js';
import { StreamRegistry } from '../../src/api/streams/stream-registry.js';
import { buildSchema } from '../../src/api/build-schema.js';

// Nothing is enqueued: the handler never runs.
const queue = new AgentExecutionQueue({ runTask: () => Promise.resolve(), maxConcurrency: 1, maxQueueLength: 1000, queueTimeoutMs: 300_000 });
// Only `queueStatus` is asked for, and it reads only the queue.
const context = { services: { queue, runs: null, monitor: null }, streams: new StreamRegistry() };
const yoga = createYoga({ schema: buildSchema(), graphqlEndpoint: '/graphql', logging: false, context: () => context });
// The listener yoga's own `createServer(yoga)` would call, typed as the void callback node:http takes.
const server = createServer(yoga.requestListener);
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send?.({ type: 'ready', url: `http://127.0.0.1:${port}/graphql`, pid: process.pid });
});
process.on('message', (message: { type?: string }) => {
  if (message?.type === 'close') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
