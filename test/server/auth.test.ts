/**
 * Authentication and authorization: bearer tokens over HTTP (401 without, 403 for a read token on
 * a mutation), the token in graphql-ws `connectionParams` (4403 without), what stays open, and
 * the loopback-only mode without tokens.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ANONYMOUS_CALLER_KEY, TokenAuth, bearerToken, connectionParamsToken } from '../../src/server/auth.js';
import { createBosunServer } from '../../src/server/create-server.js';
import { GRAPHIQL_TOKEN_STORAGE_KEY } from '../../src/server/graphiql-token.js';
import { createFakeServices } from '../helpers/fake-services.js';
import { within } from '../helpers/graphql-clients.js';
import { createTestLogger } from '../helpers/test-logger.js';
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
  type HardenedServer,
} from '../hardening/hardened-server.js';

let test: HardenedServer | undefined;
afterEach(async () => {
  await test?.close();
  test = undefined;
});

const withTokens = async (): Promise<HardenedServer> => (test = await startHardenedServer({ apiToken: API_TOKEN, readToken: READ_TOKEN }));

const QUERY = '{ queueStatus { maxConcurrency } }';
const MUTATION = 'mutation { setMaxConcurrency(value: 3) { maxConcurrency } }';

describe('TokenAuth', () => {
  const auth = new TokenAuth({ apiToken: API_TOKEN, readToken: READ_TOKEN });

  it('knows both tokens and nothing else: no prefix, extension, other case or other length', () => {
    expect(auth.authenticate(API_TOKEN)).toEqual({ role: 'admin', key: 'token:api' });
    expect(auth.authenticate(READ_TOKEN)).toEqual({ role: 'read', key: 'token:read' });
    for (const wrong of [undefined, '', API_TOKEN.slice(0, -1), `${API_TOKEN}x`, API_TOKEN.toUpperCase(), 'x', 'x'.repeat(10_000)]) {
      expect(auth.authenticate(wrong), String(wrong).slice(0, 30)).toBeUndefined();
    }
  });

  it('without tokens lets everyone in as the same admin (one key for per-caller limits)', () => {
    const open = new TokenAuth();
    expect(open.enabled).toBe(false);
    expect(open.authenticate(undefined)).toEqual({ role: 'admin', key: ANONYMOUS_CALLER_KEY });
    expect(open.authenticate('anything')).toEqual({ role: 'admin', key: ANONYMOUS_CALLER_KEY });
  });

  it('reads "Bearer x" from a header, and "Bearer x" or "x" from connectionParams', () => {
    expect(bearerToken(`Bearer ${API_TOKEN}`)).toBe(API_TOKEN);
    expect(bearerToken(`bearer ${API_TOKEN}`)).toBe(API_TOKEN);
    expect(bearerToken(API_TOKEN)).toBeUndefined();
    expect(bearerToken(`Basic ${API_TOKEN}`)).toBeUndefined();
    expect(bearerToken(null)).toBeUndefined();
    expect(connectionParamsToken({ authorization: `Bearer ${API_TOKEN}` })).toBe(API_TOKEN);
    expect(connectionParamsToken({ authorization: API_TOKEN })).toBe(API_TOKEN);
    expect(connectionParamsToken({ Authorization: API_TOKEN })).toBe(API_TOKEN);
    expect(connectionParamsToken({ authorization: 42 })).toBeUndefined();
    expect(connectionParamsToken({ authorization: 'a b c' })).toBeUndefined();
    expect(connectionParamsToken(undefined)).toBeUndefined();
  });
});

describe('HTTP with tokens', () => {
  it('refuses requests without a valid token with 401 and WWW-Authenticate, before executing anything', async () => {
    const { url, services } = await withTokens();
    for (const headers of [{}, bearer('not-the-token-at-all'), { authorization: API_TOKEN }, { authorization: `Basic ${API_TOKEN}` }]) {
      const response = await post(url, MUTATION, undefined, headers);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="bosun"');
      expect(response.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(JSON.stringify(response.body)).not.toContain(API_TOKEN);
    }
    expect(services.queue.stats().maxConcurrency).toBe(1);
  });

  it('lets the API token do everything', async () => {
    const { url, services } = await withTokens();
    expect((await post(url, QUERY, undefined, bearer(API_TOKEN))).body).toEqual({ data: { queueStatus: { maxConcurrency: 1 } } });
    const mutation = await post(url, MUTATION, undefined, bearer(API_TOKEN));
    expect(mutation.status).toBe(200);
    expect(mutation.body).toEqual({ data: { setMaxConcurrency: { maxConcurrency: 3 } } });
    expect(services.queue.stats().maxConcurrency).toBe(3);
  });

  it('lets the read token query but answers its mutations 403 FORBIDDEN without running them', async () => {
    const { url, services } = await withTokens();
    expect((await post(url, QUERY, undefined, bearer(READ_TOKEN))).body).toEqual({ data: { queueStatus: { maxConcurrency: 1 } } });
    const mutation = await post(url, MUTATION, undefined, bearer(READ_TOKEN));
    expect(mutation.status).toBe(403);
    expect(mutation.body.data).toBeUndefined();
    expect(mutation.body.errors).toEqual([expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })]);
    expect(mutation.body.errors?.[0]?.message).toMatch(/queries and subscriptions only/);
    const start = await post(
      url,
      'mutation { startAgent(input: { group: { id: "g", name: "n" }, config: {} }) { agentId } }',
      undefined,
      bearer(READ_TOKEN),
    );
    expect(start.status).toBe(403);
    expect(services.queue.stats().maxConcurrency).toBe(1);
    expect(await services.runs.list({ status: null, limit: 10 })).toEqual([]);
  });

  it('needs a token for SSE subscriptions too', async () => {
    const { url } = await withTokens();
    const refused = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { queueStatusChanged { queued } }' }),
    });
    expect(refused.status).toBe(401);
    await refused.body?.cancel();
    const controller = new AbortController();
    const allowed = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...bearer(READ_TOKEN) },
      body: JSON.stringify({ query: 'subscription { queueStatusChanged { queued } }' }),
      signal: controller.signal,
    });
    expect(allowed.status).toBe(200);
    controller.abort();
  });

  it("keeps /health, the dashboard and GraphiQL's page open; /metrics needs a token (either)", async () => {
    const { origin, url } = await withTokens();
    expect((await fetch(`${origin}/health`)).status).toBe(200);
    const dashboard = await fetch(`${origin}/`);
    expect(dashboard.status).toBe(200);
    expect(dashboard.headers.get('content-type')).toContain('text/html');
    await dashboard.text();
    const metrics = await fetch(`${origin}/metrics`);
    expect(metrics.status).toBe(401);
    await metrics.text();
    const readMetrics = await fetch(`${origin}/metrics`, { headers: bearer(READ_TOKEN) });
    expect(readMetrics.status).toBe(200);
    expect(await readMetrics.text()).toContain('bosun_queue_running');

    const page = await fetch(url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    // The page asks for the token and keeps it in sessionStorage; it does not carry one.
    expect(html).toContain(GRAPHIQL_TOKEN_STORAGE_KEY);
    expect(html).toContain('sessionStorage');
    expect(html).not.toContain(API_TOKEN);
    expect(html).not.toContain(READ_TOKEN);
  });
});

describe('graphql-ws with tokens', () => {
  it('closes a connection without a valid token with 4403', async () => {
    const { wsUrl } = await withTokens();
    for (const params of [undefined, {}, { authorization: 'wrong-token-wrong-token' }, { authorization: `Basic ${API_TOKEN}` }]) {
      const { client, closed } = wsClient(wsUrl, params);
      await expect(wsRun(client, QUERY)).rejects.toBeDefined();
      expect((await within(closed, 'the refused connection to close')).code).toBe(4403);
      await client.dispose();
    }
  });

  it('accepts "Bearer <token>" and the bare token, and keeps a read token to queries and subscriptions', async () => {
    const { wsUrl, services } = await withTokens();
    const api = wsClient(wsUrl, { authorization: `Bearer ${API_TOKEN}` });
    expect(await wsRun(api.client, MUTATION)).toEqual([{ data: { setMaxConcurrency: { maxConcurrency: 3 } } }]);
    await api.client.dispose();

    const read = wsClient(wsUrl, { authorization: READ_TOKEN });
    expect(await wsRun(read.client, QUERY)).toEqual([{ data: { queueStatus: { maxConcurrency: 3 } } }]);
    const refused = await wsRun(read.client, 'mutation { setMaxConcurrency(value: 7) { maxConcurrency } }');
    expect(refused).toEqual([{ errors: [expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })] }]);
    expect(services.queue.stats().maxConcurrency).toBe(3);

    const iterator = read.client.iterate({ query: 'subscription { queueStatusChanged { maxConcurrency } }' });
    expect((await within(iterator.next(), 'the first status')).value).toEqual({ data: { queueStatusChanged: { maxConcurrency: 3 } } });
    await iterator.return?.();
    await read.client.dispose();
  });
});

describe('without tokens', () => {
  it('listens on loopback only and says so; refuses to be built for another host', async () => {
    const logger = createTestLogger();
    const server = createBosunServer({ config: { host: '127.0.0.1', port: 0 }, services: createFakeServices(), logger });
    await server.listen();
    await server.close();
    expect(logger.entries).toContainEqual(
      expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/listening on 127\.0\.0\.1 only, without authentication/) as string }),
    );
    expect(() => createBosunServer({ config: { host: '0.0.0.0', port: 0 }, services: createFakeServices(), logger })).toThrow(
      'HOST="0.0.0.0": expected a loopback address unless BOSUN_API_TOKEN is set',
    );
  });

  it('answers only requests addressed to a loopback name (a rebound DNS name gets 403), over HTTP and WebSocket', async () => {
    test = await startHardenedServer();
    const { url, wsUrl } = test;
    const body = JSON.stringify({ query: QUERY });
    const headers = { 'content-type': 'application/json' };
    for (const host of ['localhost', `localhost:${new URL(url).port}`, '127.0.0.1', '[::1]:4000', 'bosun.localhost']) {
      const allowed = await rawRequest(url, { method: 'POST', headers: { ...headers, host }, body });
      expect(allowed.status, host).toBe(200);
    }
    for (const host of ['attacker.example:4000', 'example.com', '127.0.0.1.nip.io']) {
      const refused = await rawRequest(url, { method: 'POST', headers: { ...headers, host }, body });
      expect(refused.status, host).toBe(403);
      expect(parseGraphQL(refused.body).errors?.[0]?.message).toMatch(/loopback/);
    }
    expect(await handshake(wsUrl, { host: 'attacker.example:4000' })).toMatchObject({ open: false, status: 403 });
    expect(await handshake(wsUrl)).toEqual({ open: true });
  });

  it('runs every operation as admin, connectionParams or not', async () => {
    test = await startHardenedServer();
    const { client } = wsClient(test.wsUrl);
    expect(await wsRun(client, MUTATION)).toEqual([{ data: { setMaxConcurrency: { maxConcurrency: 3 } } }]);
    await client.dispose();
  });
});
