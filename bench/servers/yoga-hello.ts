/**
 * The throughput baseline: a bare graphql-yoga "hello world" on node:http, the server a user
 * would start from. Same Node, same tsx loader and same process set-up as bosun's child; tells
 * the parent its URL over IPC.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSchema, createYoga } from 'graphql-yoga';

const yoga = createYoga({
  schema: createSchema({ typeDefs: 'type Query { hello: String! }', resolvers: { Query: { hello: () => 'world' } } }),
  graphqlEndpoint: '/graphql',
  logging: false,
});
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
