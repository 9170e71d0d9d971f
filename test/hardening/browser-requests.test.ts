/**
 * What a page on another site can make a browser do to bosun: open a WebSocket (refused unless
 * its Origin is bosun's own or listed in ALLOWED_ORIGINS), read answers or send non-simple
 * requests (no CORS for other origins), or send a simple request that executes: a form or
 * text/plain POST, or a GET subscription (refused without the CSRF header), a GET mutation
 * (405), or a GET query (answered: it changes nothing, and the page cannot read the answer).
 * GraphiQL, the dashboard and GraphQL clients keep working.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CSRF_HEADER } from '../../src/server/csrf.js';
import { handshake, post, startHardenedServer, type GraphQLBody, type HardenedServer } from './hardened-server.js';

let test: HardenedServer | undefined;
afterEach(async () => {
  await test?.close();
  test = undefined;
});

const MUTATION = 'mutation { setMaxConcurrency(value: 5) { maxConcurrency } }';

describe('WebSocket origins', () => {
  it('accepts its own origin (by Host) and clients without Origin; refuses other origins with 403 before the handshake', async () => {
    test = await startHardenedServer();
    const { wsUrl, origin, logger } = test;
    expect(await handshake(wsUrl)).toEqual({ open: true });
    expect(await handshake(wsUrl, { origin })).toEqual({ open: true });
    expect(
      await handshake(wsUrl, { origin: origin.replace('127.0.0.1', 'localhost'), host: new URL(origin).host.replace('127.0.0.1', 'localhost') }),
    ).toEqual({
      open: true,
    });
    for (const other of ['http://evil.example', 'https://evil.example', `http://127.0.0.1:${Number(new URL(origin).port) + 1}`, 'null', 'file://']) {
      const refused = await handshake(wsUrl, { origin: other });
      expect(refused, other).toMatchObject({ open: false, status: 403 });
      expect((refused as { body: string }).body).toMatch(/ALLOWED_ORIGINS/);
    }
    expect(test.server.httpServer.listenerCount('upgrade')).toBe(1);
    expect(logger.entries.some((entry) => /WebSocket upgrade refused/.test(entry.msg ?? ''))).toBe(true);
  });

  it('accepts the origins of ALLOWED_ORIGINS as well', async () => {
    test = await startHardenedServer({ allowedOrigins: ['https://ci.example.com', 'http://localhost:5173'] });
    expect(await handshake(test.wsUrl, { origin: 'https://ci.example.com' })).toEqual({ open: true });
    expect(await handshake(test.wsUrl, { origin: 'http://localhost:5173' })).toEqual({ open: true });
    expect(await handshake(test.wsUrl, { origin: 'https://ci.example.com.evil.example' })).toMatchObject({ status: 403 });
    expect(await handshake(test.wsUrl, { origin: 'http://ci.example.com' })).toMatchObject({ status: 403 });
  });

  it('answers another path with 404', async () => {
    test = await startHardenedServer();
    expect(await handshake(test.wsUrl.replace('/graphql', '/other'))).toMatchObject({ open: false, status: 404 });
  });
});

describe('CORS', () => {
  const preflight = (url: string, origin: string): Promise<Response> =>
    fetch(url, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' },
    });

  it('gives other origins no CORS headers (yoga would reflect any origin), allowed ones their own', async () => {
    test = await startHardenedServer({ allowedOrigins: ['https://ci.example.com'] });
    const evil = await preflight(test.url, 'https://evil.example');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    expect(evil.headers.get('access-control-allow-headers')).toBeNull();
    const read = await post(test.url, '{ queueStatus { queued } }', undefined, { origin: 'https://evil.example' });
    expect(read.headers.get('access-control-allow-origin')).toBeNull();

    const listed = await preflight(test.url, 'https://ci.example.com');
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://ci.example.com');
    expect(listed.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(listed.headers.get('access-control-allow-credentials')).toBeNull();
  });
});

describe('CSRF prevention', () => {
  it('refuses simple POSTs without the CSRF header and runs nothing: forms, text/plain, multipart', async () => {
    test = await startHardenedServer();
    const { url, services } = test;
    const form = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ query: MUTATION }).toString(),
    });
    expect(form.status).toBe(400);
    expect(((await form.json()) as GraphQLBody).errors?.[0]?.message).toContain(CSRF_HEADER);
    const text = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
      body: JSON.stringify({ query: MUTATION }),
    });
    expect(text.status).toBe(400);
    await text.text();
    const multipart = new FormData();
    multipart.set('operations', JSON.stringify({ query: MUTATION }));
    const formData = await fetch(url, { method: 'POST', body: multipart });
    expect(formData.status).toBe(400);
    await formData.text();
    // A form carrying a query is refused the same: the check comes before the body is read.
    const formQuery = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: '{ queueStatus { queued } }' }).toString(),
    });
    expect(formQuery.status).toBe(400);
    await formQuery.text();
    expect(services.queue.stats().maxConcurrency).toBe(1);
  });

  it('answers a GET query without any extra header, as clients send it (a query changes nothing; no CORS, so no other site reads it)', async () => {
    test = await startHardenedServer();
    const { url, origin } = test;
    const get = await fetch(`${url}?query=${encodeURIComponent('{ queueStatus { queued } }')}`, { headers: { accept: 'application/json' } });
    expect(get.status).toBe(200);
    expect(await get.json()).toEqual({ data: { queueStatus: { queued: 0 } } });
    // A page on another site may send it, and gets its answer without CORS headers: the browser keeps it from the page.
    const forged = await fetch(`${url}?query=${encodeURIComponent('{ queueStatus { queued } }')}`, {
      headers: { accept: 'application/graphql-response+json', origin: 'https://evil.example' },
    });
    expect(forged.status).toBe(200);
    expect(forged.headers.get('access-control-allow-origin')).toBeNull();
    await forged.text();
    // Same origin (the dashboard could, too) with no accept header at all.
    const plain = await fetch(`${url}?query=${encodeURIComponent('{ queueStatus { maxConcurrency } }')}`, { headers: { origin } });
    expect(plain.status).toBe(200);
    expect(await plain.json()).toEqual({ data: { queueStatus: { maxConcurrency: 1 } } });
  });

  it('refuses a GET mutation with 405, with or without the header, and runs nothing', async () => {
    test = await startHardenedServer();
    const { url, services } = test;
    const withHeader: Record<string, string> = { accept: 'application/json', [CSRF_HEADER]: '1' };
    for (const headers of [{ accept: 'application/json' }, withHeader]) {
      const get = await fetch(`${url}?query=${encodeURIComponent(MUTATION)}`, { headers });
      expect(get.status).toBe(405);
      expect(get.headers.get('allow')).toBe('POST');
      await get.text();
    }
    expect(services.queue.stats().maxConcurrency).toBe(1);
  });

  it('refuses a GET subscription without the header (it would hold a streaming slot), and opens nothing', async () => {
    test = await startHardenedServer();
    const { url, server } = test;
    const subscription = `${url}?query=${encodeURIComponent('subscription { queueStatusChanged { queued } }')}`;
    const refused = await fetch(subscription, { headers: { accept: 'text/event-stream' } });
    expect(refused.status).toBe(400);
    // Answered in the format asked for (an SSE event), with the refusal's code.
    expect(await refused.text()).toContain('"code":"BAD_REQUEST"');
    expect(server.connections.streams).toBe(0);
    expect(server.streams.size).toBe(0);
    // The same document over POST is not refused from a cache: the refusal is not a parse result.
    const controller = new AbortController();
    const posted = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { queueStatusChanged { queued } }' }),
      signal: controller.signal,
    });
    expect(posted.status).toBe(200);
    controller.abort();
    await posted.text().catch(() => undefined);
  });

  it('lets JSON through (GraphiQL, the dashboard, clients), and simple requests that carry the header', async () => {
    test = await startHardenedServer();
    const { url, services } = test;
    expect((await post(url, MUTATION)).body).toEqual({ data: { setMaxConcurrency: { maxConcurrency: 5 } } });
    const form = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', [CSRF_HEADER]: '1', accept: 'application/json' },
      body: new URLSearchParams({ query: '{ queueStatus { maxConcurrency } }' }).toString(),
    });
    expect(await form.json()).toEqual({ data: { queueStatus: { maxConcurrency: 5 } } });
    const get = await fetch(`${url}?query=${encodeURIComponent('{ queueStatus { queued } }')}`, {
      headers: { accept: 'application/json', [CSRF_HEADER]: 'yes' },
    });
    expect(get.status).toBe(200);
    await get.text();
    expect(services.queue.stats().maxConcurrency).toBe(5);
    // GraphiQL's page is a simple GET too, and stays served.
    const page = await fetch(url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    await page.text();
  });
});
