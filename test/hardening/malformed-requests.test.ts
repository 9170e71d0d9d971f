/**
 * Requests that bosun cannot read, sent by anyone (no token needed): a Host header or request
 * target that is not a URL got HTTP 500 with a stack trace and module paths (over a WebSocket
 * upgrade, an uncaught exception); a Host with userinfo passed for loopback; `variables` that are
 * not JSON got 500; a body that is not JSON got 400 with the JSON parser's own error in
 * `extensions.originalError`. Each now gets a short 4xx answer, and the server goes on serving.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  API_TOKEN,
  bearer,
  handshake,
  parseGraphQL,
  post,
  rawExchange,
  rawRequest,
  startHardenedServer,
  type HardenedServer,
} from './hardened-server.js';

let test: HardenedServer | undefined;
afterEach(async () => {
  await test?.close();
  test = undefined;
});

/** Status line, headers and body of a raw HTTP answer. */
function parseAnswer(answer: string): { status: number; headers: string; body: string } {
  const split = answer.indexOf('\r\n\r\n');
  const head = answer.slice(0, split);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head, body: answer.slice(split + 4) };
}

/** Nothing of bosun's insides: no stack frame, no file path, no module name. */
function expectNoInternals(body: string): void {
  expect(body).not.toMatch(/\bat .+[(:]\d+/);
  expect(body).not.toMatch(/node_modules|node:internal|\/work\/|file:\/\/|\.ts\b|\.js\b/);
  expect(body).not.toMatch(/TypeError|SyntaxError|Invalid URL/);
}

const rawGet = (target: string, host: string, extra = ''): string =>
  `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nx-graphql-csrf: 1\r\n${extra}Connection: close\r\n\r\n`;

const upgrade = (target: string, host: string): string =>
  `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n`;

const MALFORMED_HOSTS = ['a b', 'exa mple:80', '[::1', '[nonsense]:80', 'foo:bar:baz', '%', '127.0.0.1:99999', '127.0.0.1:80x'];

describe('a malformed Host header or request target', () => {
  it.each([
    ['without tokens', {}],
    ['with tokens, and no token sent', { apiToken: API_TOKEN }],
  ])('gets 400 BAD_REQUEST with one line and no stack trace, over HTTP (%s)', async (_case, config) => {
    test = await startHardenedServer(config);
    for (const host of MALFORMED_HOSTS) {
      const answer = parseAnswer(await rawExchange(test.url, rawGet('/graphql?query={__typename}', host)));
      expect(answer.status, host).toBe(400);
      expect(JSON.parse(answer.body), host).toEqual({
        errors: [{ message: 'Bad request: malformed Host header', extensions: { code: 'BAD_REQUEST' } }],
      });
      expectNoInternals(answer.body);
    }
    // A target that makes no URL with a good Host (absolute-form with a port glued to it).
    const target = parseAnswer(await rawExchange(test.url, rawGet('http://x:1:2/graphql', `127.0.0.1:${new URL(test.url).port}`)));
    expect(target.status).toBe(400);
    expect(parseGraphQL(target.body).errors?.[0]).toEqual({ message: 'Bad request: malformed request target', extensions: { code: 'BAD_REQUEST' } });
    // The server goes on serving.
    const headers = 'apiToken' in config ? bearer(API_TOKEN) : {};
    expect((await post(test.url, '{ __typename }', undefined, headers)).body).toEqual({ data: { __typename: 'Query' } });
  });

  it('gets 400 over a WebSocket upgrade too, where a target such as //[ threw an uncaught exception', async () => {
    test = await startHardenedServer();
    const host = `127.0.0.1:${new URL(test.url).port}`;
    for (const [target, hostHeader] of [
      ['//[', host],
      ['/graphql', 'a b'],
      ['/graphql', '[::1'],
    ] as const) {
      const answer = parseAnswer(await rawExchange(test.url, upgrade(target, hostHeader)));
      expect(answer.status, `${target} ${hostHeader}`).toBe(400);
      expect(answer.body).toMatch(/^Bad request: malformed (Host header|request target)\n$/);
      expectNoInternals(answer.body);
    }
    expect(await handshake(test.wsUrl)).toEqual({ open: true });
  });
});

describe('a Host header with userinfo', () => {
  it('is not loopback: refused like any other name without tokens, over HTTP and WebSocket', async () => {
    test = await startHardenedServer();
    const port = new URL(test.url).port;
    for (const host of [`127.0.0.1:${port}@evil.com`, `localhost@evil.com`, `[::1]:${port}@evil.com`]) {
      const answer = await rawRequest(`${test.url}?query={__typename}`, { headers: { host, 'x-graphql-csrf': '1' } });
      expect(answer.status, host).toBe(403);
      expect(parseGraphQL(answer.body).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect(await handshake(test.wsUrl, { host }), host).toMatchObject({ open: false, status: 403 });
    }
    // A loopback Host still gets in.
    const good = await rawRequest(`${test.url}?query={__typename}`, { headers: { host: `127.0.0.1:${port}`, 'x-graphql-csrf': '1' } });
    expect(good.status).toBe(200);
  });
});

describe('variables or extensions that are not JSON', () => {
  it('get 400 BAD_REQUEST naming the parameter, over GET and form POST; nothing runs', async () => {
    test = await startHardenedServer();
    const cases = [
      [`${test.url}?query={__typename}&variables={`, 'variables'],
      [`${test.url}?query={__typename}&variables=${encodeURIComponent('{"a":')}`, 'variables'],
      [`${test.url}?query={__typename}&extensions=nope`, 'extensions'],
    ] as const;
    for (const [url, parameter] of cases) {
      const answer = await rawRequest(url, { headers: { 'x-graphql-csrf': '1' } });
      expect(answer.status, url).toBe(400);
      expect(JSON.parse(answer.body), url).toEqual({
        errors: [{ message: `The "${parameter}" parameter is not valid JSON`, extensions: { code: 'BAD_REQUEST' } }],
      });
      expectNoInternals(answer.body);
    }
    const form = await rawRequest(test.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-graphql-csrf': '1' },
      body: 'query=mutation{setMaxConcurrency(value:3){maxConcurrency}}&variables={',
    });
    expect(form.status).toBe(400);
    expect(parseGraphQL(form.body).errors?.[0]).toEqual({
      message: 'The "variables" or "extensions" parameter is not valid JSON',
      extensions: { code: 'BAD_REQUEST' },
    });
    expect(test.services.queue.stats().maxConcurrency).toBe(1);
    // Good JSON still works.
    const good = await rawRequest(
      `${test.url}?query=${encodeURIComponent('query Q($i: Boolean!) { __typename @include(if: $i) }')}&variables=${encodeURIComponent('{"i":true}')}`,
      {
        headers: { 'x-graphql-csrf': '1' },
      },
    );
    expect(JSON.parse(good.body)).toEqual({ data: { __typename: 'Query' } });
  });
});

describe('a body that is not JSON', () => {
  it('gets 400 BAD_REQUEST with the message, code and nothing of the parser (no originalError)', async () => {
    test = await startHardenedServer();
    for (const body of ['{"query": ', 'not json', '{"query": "{ __typename }",}']) {
      for (const accept of ['application/json', 'application/graphql-response+json']) {
        const answer = await rawRequest(test.url, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body });
        expect(answer.status, `${body} (${accept})`).toBe(400);
        expect(JSON.parse(answer.body), body).toEqual({ errors: [{ message: 'POST body sent invalid JSON.', extensions: { code: 'BAD_REQUEST' } }] });
        expect(answer.body).not.toContain('originalError');
        expectNoInternals(answer.body);
      }
    }
    // The server goes on serving.
    expect((await post(test.url, '{ __typename }')).body).toEqual({ data: { __typename: 'Query' } });
  });
});
