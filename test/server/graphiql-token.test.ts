/**
 * GraphiQL with BOSUN_API_TOKEN set, in Debian's headless Chromium: the page asks for the token
 * once, keeps it for the session, sends it as `Authorization: Bearer` on HTTP and in graphql-ws's
 * `connection_init`, forgets a refused one, and loads nothing from another host.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRAPHIQL_TOKEN_STORAGE_KEY, withGraphiQLToken } from '../../src/server/graphiql-token.js';
import { API_TOKEN, startHardenedServer, type HardenedServer } from '../hardening/hardened-server.js';

const CHROMIUM = '/usr/bin/chromium';

let test: HardenedServer;
let browser: Browser;
let page: Page;
const prompts: string[] = [];
const foreignRequests: string[] = [];
const authorizations: (string | undefined)[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`bash scripts/setup.sh --with-browser\``);
  test = await startHardenedServer({ apiToken: API_TOKEN });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  page = await browser.newPage();
  page.setDefaultTimeout(20_000);
  const host = new URL(test.origin).host;
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (!['data:', 'blob:'].includes(url.protocol) && url.host !== host) foreignRequests.push(request.url());
    if (url.pathname === '/graphql' && request.method() === 'POST') authorizations.push(request.headers()['authorization']);
  });
  page.on('dialog', (dialog) => {
    prompts.push(dialog.message());
    void dialog.accept(API_TOKEN);
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await test?.close();
});

/** Runs one operation over the page's (wrapped) WebSocket, sending connection_init without a token. */
const overWebSocket = (target: Page, wsUrl: string): Promise<{ acknowledged: boolean; closeCode: number | null }> =>
  target.evaluate(
    (url) =>
      new Promise<{ acknowledged: boolean; closeCode: number | null }>((resolve) => {
        const socket = new WebSocket(url, 'graphql-transport-ws');
        socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
        socket.onmessage = (event) => {
          if ((JSON.parse(String(event.data)) as { type?: string }).type === 'connection_ack') {
            socket.close();
            resolve({ acknowledged: true, closeCode: null });
          }
        };
        socket.onclose = (event) => resolve({ acknowledged: false, closeCode: event.code });
      }),
    wsUrl,
  );

describe('GraphiQL with a token', () => {
  it('asks once, then sends the token with its own requests (introspection)', async () => {
    await page.goto(test.url);
    await page.waitForFunction(() => document.querySelector('.graphiql-container') !== null);
    // GraphiQL introspects the schema over HTTP as soon as it loads.
    await expect.poll(() => authorizations.length, { timeout: 20_000 }).toBeGreaterThan(0);
    expect(prompts).toHaveLength(1);
    expect(prompts[0]).toMatch(/token/i);
    expect(authorizations.every((value) => value === `Bearer ${API_TOKEN}`)).toBe(true);
    expect(await page.evaluate((key) => sessionStorage.getItem(key), GRAPHIQL_TOKEN_STORAGE_KEY)).toBe(API_TOKEN);
    expect(test.logger.entries.some((entry) => entry.fields['err'] !== undefined)).toBe(false);
  });

  it('keeps it for the session: a reload does not ask again', async () => {
    const before = authorizations.length;
    await page.reload();
    await page.waitForFunction(() => document.querySelector('.graphiql-container') !== null);
    await expect.poll(() => authorizations.length, { timeout: 20_000 }).toBeGreaterThan(before);
    expect(authorizations.slice(before).every((value) => value === `Bearer ${API_TOKEN}`)).toBe(true);
    expect(prompts).toHaveLength(1);
  });

  it('sends it in connection_init on graphql-ws', async () => {
    expect(await overWebSocket(page, test.wsUrl)).toEqual({ acknowledged: true, closeCode: null });
  });

  it('forgets a refused token (HTTP 401, or close 4403) so that the next operation asks again', async () => {
    const setToken = (value: string) => page.evaluate(([key, token]) => sessionStorage.setItem(key!, token!), [GRAPHIQL_TOKEN_STORAGE_KEY, value]);
    await setToken('not-the-right-token-at-all');
    const status = await page.evaluate(async () => {
      const response = await fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ queueStatus { queued } }"}',
      });
      return response.status;
    });
    expect(status).toBe(401);
    expect(await page.evaluate((key) => sessionStorage.getItem(key), GRAPHIQL_TOKEN_STORAGE_KEY)).toBeNull();

    await setToken('not-the-right-token-at-all');
    expect(await overWebSocket(page, test.wsUrl)).toEqual({ acknowledged: false, closeCode: 4403 });
    expect(await page.evaluate((key) => sessionStorage.getItem(key), GRAPHIQL_TOKEN_STORAGE_KEY)).toBeNull();

    // The next request asks again, and works.
    const after = await page.evaluate(async () => {
      const response = await fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"query":"{ queueStatus { queued } }"}',
      });
      return response.status;
    });
    expect(after).toBe(200);
    expect(prompts).toHaveLength(2);
  });

  it('loaded nothing from another host', () => {
    expect(foreignRequests).toEqual([]);
  });
});

describe('withGraphiQLToken', () => {
  it('puts the script first in the head, and refuses a page without one', () => {
    const html = withGraphiQLToken('<!doctype html><html><head><script>app()</script></head></html>', '/graphql');
    expect(html.indexOf('sessionStorage')).toBeLessThan(html.indexOf('app()'));
    expect(html).not.toMatch(/\beval\(|new Function/);
    expect(() => withGraphiQLToken('<html></html>', '/graphql')).toThrow(/head/);
  });
});
