/**
 * Limits on what a client may send: operation depth, aliases, tokens (graphql-armor) and cost
 * (list sizes multiplied through nesting), with no limit revealed, 1 MiB request bodies and WebSocket messages, MAX_WS_CONNECTIONS
 * (more in ws-pending.test.ts and sse-limits.test.ts),
 * operations per socket, and START_RATE_PER_MINUTE; and that bosun's own clients (the
 * dashboard's operations, GraphiQL's example) stay within them.
 */
import { Agent, request as httpRequest } from 'node:http';
import { getIntrospectionQuery } from 'graphql';
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { GRAPHIQL_DEFAULT_QUERY } from '../../src/server/graphiql.js';
import { QUERY_LIMIT_MESSAGES } from '../../src/server/query-limits.js';
import { MAX_OPERATIONS_PER_SOCKET, MAX_REQUEST_BYTES, QUERY_LIMITS, WS_MAX_PAYLOAD_BYTES } from '../../src/server/server-limits.js';
import { makeRun } from '../helpers/fixtures.js';
import { eventually, within } from '../helpers/graphql-clients.js';
import {
  API_TOKEN,
  READ_TOKEN,
  bearer,
  handshake,
  parseGraphQL,
  post,
  rawRequest,
  startHardenedServer,
  wsClient,
  wsRun,
  type GraphQLBody,
  type HardenedServer,
} from './hardened-server.js';

let test: HardenedServer | undefined;
afterEach(async () => {
  await test?.close();
  test = undefined;
});

const codes = (body: GraphQLBody | undefined): (string | undefined)[] => (body?.errors ?? []).map((error) => error.extensions?.code);
const messages = (body: GraphQLBody): string => (body.errors ?? []).map((error) => error.message).join(' | ');

describe('operation limits (graphql-armor)', () => {
  /** `{ agentRun(id: "x") { group { id } } }` nested through fragments to the given depth. */
  const deepQuery = (depth: number): string => {
    const fragments: string[] = [];
    for (let level = 1; level < depth; level += 1) {
      fragments.push(`fragment F${level} on AgentRun { id ${level + 1 < depth ? `...F${level + 1}` : 'group { id }'} }`);
    }
    return `{ agentRun(id: "x") { ...F1 } } ${fragments.join(' ')}`;
  };

  it.each([
    ['depth', deepQuery(QUERY_LIMITS.maxDepth + 2), QUERY_LIMIT_MESSAGES.depth],
    [
      'aliases',
      `{ ${Array.from({ length: QUERY_LIMITS.maxAliases + 1 }, (_, i) => `a${i}: queueStatus { queued }`).join(' ')} }`,
      QUERY_LIMIT_MESSAGES.aliases,
    ],
    ['cost', `{ agentRuns { logs(last: 100000) { seq line stream at } } }`, QUERY_LIMIT_MESSAGES.cost],
    ['cost through fragments', `{ agentRuns(limit: 500) { ...L } } fragment L on AgentRun { logs { line } }`, QUERY_LIMIT_MESSAGES.cost],
    ['directives', `{ queueStatus { queued ${'@include(if: true) '.repeat(QUERY_LIMITS.maxDirectives + 1)} } }`, QUERY_LIMIT_MESSAGES.directives],
  ])('refuses too much %s over HTTP and graphql-ws, without telling the limit', async (_kind, query, message) => {
    test = await startHardenedServer();
    const response = await post(test.url, query);
    expect(response.status).toBe(400);
    expect(messages(response.body)).toContain(message);
    expect(codes(response.body)).toContain('GRAPHQL_VALIDATION_FAILED');
    expect(messages(response.body)).not.toMatch(/\d/);
    expect(response.body.data).toBeUndefined();

    const { client } = wsClient(test.wsUrl);
    const errors = await wsRun(client, query).then(
      () => [],
      (thrown: unknown) => thrown as { message: string }[],
    );
    expect(errors.map((error) => error.message).join(' ')).toContain(message);
    expect(errors.map((error) => error.message).join(' ')).not.toMatch(/\d/);
    // The socket survives a refused operation.
    expect(await wsRun(client, '{ queueStatus { queued } }')).toEqual([{ data: { queueStatus: { queued: 0 } } }]);
    await client.dispose();
  });

  it('refuses too many tokens while parsing, over HTTP and graphql-ws', async () => {
    test = await startHardenedServer();
    const query = `{ queueStatus { ${'queued '.repeat(QUERY_LIMITS.maxTokens)} } }`;
    const response = await post(test.url, query);
    expect(response.status).toBe(400);
    expect(messages(response.body)).toContain(QUERY_LIMIT_MESSAGES.tokens);
    expect(messages(response.body)).not.toMatch(/\d/);
    const { client } = wsClient(test.wsUrl);
    await expect(wsRun(client, query)).rejects.toEqual([
      expect.objectContaining({ message: expect.stringContaining(QUERY_LIMIT_MESSAGES.tokens) as string }),
    ]);
    await client.dispose();
  });

  it("lets every operation of the dashboard, GraphiQL's example and introspection through", async () => {
    test = await startHardenedServer();
    test.services.runs.seed(makeRun({ id: 'r1', status: 'SUCCEEDED' }));
    const variables: Record<string, unknown> = {
      limit: 50,
      samples: 600,
      id: 'r1',
      agentId: 'r1',
      afterSeq: 0,
      minLevel: 'WARNING',
      value: 2,
      input: { group: { id: 'g', name: 'n' }, config: { steps: ['true'] } },
    };
    // Plain JavaScript without types: imported by URL so that the compiler does not look for them.
    const dashboardOperations = (await import(new URL('../../src/dashboard/public/js/operations.js', import.meta.url).href)) as Record<
      string,
      unknown
    >;
    const operations = Object.entries(dashboardOperations).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string' && /^\s*(query|mutation|subscription)\b/.test(entry[1]),
    );
    expect(operations.length).toBeGreaterThanOrEqual(10);
    const { client } = wsClient(test.wsUrl);
    for (const [name, operation] of operations) {
      const used = Object.fromEntries(Object.entries(variables).filter(([key]) => operation.includes(`$${key}:`)));
      if (/^\s*subscription\b/.test(operation)) {
        // A refused subscription rejects at once; an accepted one may have nothing to send yet.
        const iterator = client.iterate({ query: operation, variables: used });
        const quiet = new Promise<'quiet'>((resolve) => setTimeout(resolve, 200, 'quiet'));
        const first = await Promise.race([iterator.next().catch((errors: unknown) => ({ refused: errors })), quiet]);
        expect(first === 'quiet' || !('refused' in first), `${name}: ${JSON.stringify(first)}`).toBe(true);
        if (first !== 'quiet' && 'value' in first) expect((first.value as { errors?: unknown } | undefined)?.errors, name).toBeUndefined();
        await iterator.return?.();
      } else {
        const { body } = await post(test.url, operation, used);
        expect(codes(body), `${name}: ${messages(body)}`).not.toContain('GRAPHQL_VALIDATION_FAILED');
      }
    }
    await client.dispose();
    for (const operationName of ['StartAgent', 'WatchQueue']) {
      const { body } = await post(
        test.url,
        GRAPHIQL_DEFAULT_QUERY.replace(/subscription WatchQueue[\s\S]*$/, operationName === 'WatchQueue' ? '$&' : ''),
        undefined,
      );
      expect(codes(body), operationName).not.toContain('GRAPHQL_VALIDATION_FAILED');
    }
    const introspection = await post(test.url, getIntrospectionQuery());
    expect(introspection.body.errors).toBeUndefined();
  });
});

describe('the cost of nested lists', () => {
  const NESTED = 'agentRuns(limit: 500) { logs { line } }';
  const ATTACK = `{ ${Array.from({ length: QUERY_LIMITS.maxAliases }, (_, index) => `a${index}: ${NESTED}`).join(' ')} }`;

  /** Counts the run service's reads: a refused operation makes none. */
  function countReads(server: HardenedServer): { reads: number } {
    const counter = { reads: 0 };
    const { runs } = server.services;
    for (const method of ['list', 'logs', 'get'] as const) {
      const original = runs[method].bind(runs) as (...args: unknown[]) => unknown;
      (runs as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        counter.reads += 1;
        return original(...args);
      };
    }
    return counter;
  }

  it('refuses 20 aliases of agentRuns(limit: 500) { logs { line } } before reading anything, over HTTP and graphql-ws', async () => {
    test = await startHardenedServer();
    for (let index = 0; index < 500; index += 1) test.services.runs.seed(makeRun({ id: `run-${index}`, status: 'SUCCEEDED' }));
    const counter = countReads(test);
    const response = await post(test.url, ATTACK);
    expect(response.status).toBe(400);
    expect(messages(response.body)).toBe(QUERY_LIMIT_MESSAGES.cost);
    expect(codes(response.body)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    // One of them alone is refused too.
    expect(messages((await post(test.url, `{ ${NESTED} }`)).body)).toBe(QUERY_LIMIT_MESSAGES.cost);
    const { client } = wsClient(test.wsUrl);
    await expect(wsRun(client, ATTACK)).rejects.toEqual([expect.objectContaining({ message: QUERY_LIMIT_MESSAGES.cost })]);
    expect(counter.reads).toBe(0);
    // A reasonable query over the same runs passes.
    const fine = (await post(test.url, '{ agentRuns(limit: 50) { id logs(last: 100) { seq line } } }')).body as {
      errors?: unknown;
      data: { agentRuns: unknown[] };
    };
    expect(fine.errors).toBeUndefined();
    expect(fine.data.agentRuns).toHaveLength(50);
    await client.dispose();
  });

  it('counts sizes given by variables with their values, refusing before execution, and caches no verdict per document', async () => {
    test = await startHardenedServer();
    test.services.runs.seed(makeRun({ id: 'r1', status: 'SUCCEEDED' }));
    const counter = countReads(test);
    const query = 'query Logs($runs: Int, $lines: Int) { agentRuns(limit: $runs) { id logs(last: $lines) { seq line } } }';
    const small = { runs: 10, lines: 10 };
    const big = { runs: 500, lines: 100_000 };
    expect((await post(test.url, query, small)).body).toEqual({ data: { agentRuns: [{ id: 'r1', logs: [] }] } });
    const reads = counter.reads;
    const refused = await post(test.url, query, big);
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({
      errors: [expect.objectContaining({ message: QUERY_LIMIT_MESSAGES.cost, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })],
    });
    expect(counter.reads).toBe(reads);
    // Without a value, a size counts as the list's default: 500 runs of 10,000 lines each.
    expect(messages((await post(test.url, query, { runs: 500 })).body)).toBe(QUERY_LIMIT_MESSAGES.cost);
    // The same document with small values still passes (validation is cached per document).
    expect((await post(test.url, query, small)).body).toEqual({ data: { agentRuns: [{ id: 'r1', logs: [] }] } });

    const { client } = wsClient(test.wsUrl);
    const overWs = await wsRun(client, query, big).catch((errors: unknown) => errors);
    expect(JSON.stringify(overWs)).toContain(QUERY_LIMIT_MESSAGES.cost);
    expect(await wsRun(client, query, small)).toEqual([{ data: { agentRuns: [{ id: 'r1', logs: [] }] } }]);
    const subscription = 'subscription ($after: Int) { agentLogs(agentId: "r1", afterSeq: $after) { seq } }';
    expect(await wsRun(client, subscription, { after: 0 })).toEqual([]);
    await client.dispose();
  });
});

describe('request sizes', () => {
  it('refuses a body over 1 MiB with 413 from its Content-Length, before reading it', async () => {
    test = await startHardenedServer();
    const body = JSON.stringify({ query: `{ queueStatus { queued } } # ${'x'.repeat(MAX_REQUEST_BYTES)}` });
    const response = await fetch(test.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(response.status).toBe(413);
    await response.text();
    // Just under the limit is read and parsed (and then refused for its length in tokens? no: a comment is no token).
    const fits = JSON.stringify({ query: `{ queueStatus { queued } } # ${'x'.repeat(MAX_REQUEST_BYTES - 100)}` });
    expect((await fetch(test.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: fits })).status).toBe(200);
  });

  it('refuses a chunked body (no Content-Length) once it passes 1 MiB', async () => {
    test = await startHardenedServer();
    const url = new URL(test.url);
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
          agent: new Agent(),
        },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on('error', reject);
      request.write(`{"query":"{ queueStatus { queued } }","variables":{"pad":"`);
      const chunk = 'x'.repeat(64 * 1024);
      let sent = 0;
      const more = (): void => {
        while (sent <= MAX_REQUEST_BYTES + chunk.length) {
          sent += chunk.length;
          if (!request.write(chunk)) {
            request.once('drain', more);
            return;
          }
        }
        request.end('"}}');
      };
      more();
    });
    expect(status).toBe(413);
  });

  it('closes a WebSocket that sends a message over 1 MiB (1009)', async () => {
    test = await startHardenedServer();
    const socket = new WebSocket(test.wsUrl, 'graphql-transport-ws');
    await new Promise((resolve) => socket.once('open', resolve));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { pad: 'x'.repeat(WS_MAX_PAYLOAD_BYTES) } }));
    expect(await within(closed, 'the socket to close')).toBe(1009);
  });
});

describe('WebSocket connections', () => {
  it('refuses the connection past MAX_WS_CONNECTIONS with 503, and takes one again once a socket closes', async () => {
    test = await startHardenedServer({ maxWsConnections: 3 });
    // Sockets take a slot once their connection_init is accepted (see ws-pending.test.ts).
    const open = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<WebSocket>((resolve, reject) => {
            const socket = new WebSocket(test!.wsUrl, 'graphql-transport-ws');
            socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init' })));
            socket.once('message', () => resolve(socket));
            socket.once('error', reject);
          }),
      ),
    );
    const refused = await handshake(test.wsUrl);
    expect(refused).toMatchObject({ open: false, status: 503 });
    expect((refused as { body: string }).body).toMatch(/Too many streaming connections \(WebSocket and SSE together, at most 3\)/);
    const first = open[0]!;
    await new Promise((resolve) => {
      first.once('close', resolve);
      first.close();
    });
    await eventually(() => test!.server.connections.streams === 2, 'the server to let go of the closed socket');
    expect(await handshake(test.wsUrl)).toEqual({ open: true });
    for (const socket of open) socket.close();
  });

  it(`answers operations past ${MAX_OPERATIONS_PER_SOCKET} at once on one socket with an error, keeping the others`, async () => {
    test = await startHardenedServer();
    const { client } = wsClient(test.wsUrl);
    const iterators = Array.from({ length: MAX_OPERATIONS_PER_SOCKET }, () =>
      client.iterate({ query: 'subscription { queueStatusChanged { queued } }' }),
    );
    await Promise.all(iterators.map((iterator) => within(iterator.next(), 'a first status')));
    await expect(wsRun(client, '{ queueStatus { queued } }')).rejects.toEqual([
      expect.objectContaining({ message: expect.stringMatching(/At most 100 operations/) as string, extensions: { code: 'RATE_LIMITED' } }),
    ]);
    await iterators[0]!.return?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await wsRun(client, '{ queueStatus { queued } }')).toEqual([{ data: { queueStatus: { queued: 0 } } }]);
    await Promise.all(iterators.map((iterator) => iterator.return?.() ?? Promise.resolve()));
    await client.dispose();
  });
});

describe('START_RATE_PER_MINUTE', () => {
  const START = 'mutation { startAgent(input: { group: { id: "g", name: "n" }, config: {} }) { agentId } }';

  it('refuses startAgent and retryAgent past the rate with RATE_LIMITED, per token', async () => {
    test = await startHardenedServer({ apiToken: API_TOKEN, readToken: READ_TOKEN, startRatePerMinute: 3 });
    const { url, services } = test;
    for (let i = 0; i < 2; i += 1) {
      expect((await post(url, START, undefined, bearer(API_TOKEN))).body.errors).toBeUndefined();
    }
    services.runs.seed(makeRun({ id: 'done', status: 'FAILED' }));
    expect((await post(url, 'mutation { retryAgent(id: "done") { agentId } }', undefined, bearer(API_TOKEN))).body.errors).toBeUndefined();
    const limited = await post(url, START, undefined, bearer(API_TOKEN));
    expect(limited.status).toBe(200);
    expect(limited.body.errors).toEqual([
      expect.objectContaining({
        path: ['startAgent'],
        extensions: { code: 'RATE_LIMITED' },
        message: expect.stringMatching(/at most 3 runs .* a minute.*try again in \d+ s/) as string,
      }),
    ]);
    const retry = await post(url, 'mutation { retryAgent(id: "done") { agentId } }', undefined, bearer(API_TOKEN));
    expect(codes(retry.body)).toEqual(['RATE_LIMITED']);
    // Aliases do not get around it: each start counts (the first refusal ends the mutation).
    const aliased = await post(
      url,
      `mutation { a: startAgent(input: { group: { id: "g", name: "n" }, config: {} }) { agentId } b: startAgent(input: { group: { id: "g", name: "n" }, config: {} }) { agentId } }`,
      undefined,
      bearer(API_TOKEN),
    );
    expect(codes(aliased.body)).toEqual(['RATE_LIMITED']);
    expect(await services.runs.list({ status: null, limit: 100 })).toHaveLength(4);
    // Queries are not limited.
    expect((await post(url, '{ queueStatus { queued } }', undefined, bearer(API_TOKEN))).body.errors).toBeUndefined();
  });

  it('counts all callers together without tokens, over HTTP and graphql-ws, whatever their loopback address', async () => {
    test = await startHardenedServer({ startRatePerMinute: 3 });
    /** startAgent over HTTP from another loopback address (127.0.0.2 reaches a server on 127.0.0.1). */
    const postFrom = async (localAddress: string): Promise<GraphQLBody> => {
      const answer = await rawRequest(test!.url, {
        method: 'POST',
        localAddress,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: START }),
      });
      return parseGraphQL(answer.body);
    };
    expect((await post(test.url, START)).body.errors).toBeUndefined();
    const { client } = wsClient(test.wsUrl);
    expect((await wsRun(client, START)).map((result) => result.errors)).toEqual([undefined]);
    expect((await postFrom('127.0.0.2')).errors).toBeUndefined();
    // The allowance is spent, whoever asks next: a fresh address is no way around it.
    expect(codes(await postFrom('127.0.0.2'))).toEqual(['RATE_LIMITED']);
    expect(codes(await postFrom('127.0.0.3'))).toEqual(['RATE_LIMITED']);
    expect(codes((await wsRun(client, START))[0])).toEqual(['RATE_LIMITED']);
    expect(codes((await post(test.url, START)).body)).toEqual(['RATE_LIMITED']);
    expect(await test.services.runs.list({ status: null, limit: 100 })).toHaveLength(3);
    await client.dispose();
  });
});
