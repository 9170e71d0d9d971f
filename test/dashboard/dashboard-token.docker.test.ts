/**
 * The dashboard when bosun requires a token: it asks once, keeps the token for the browser
 * session, and then streams as usual; a wrong token is asked again.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'dashboard-token-0123456789abcdef';
declare const window: { __bosun: { connectionState(): { status: string }; synced(): boolean } };
declare const sessionStorage: { getItem(key: string): string | null };

let app: TestApp | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`bash scripts/setup.sh --with-browser\``);
  app = await startTestApp({ BOSUN_API_TOKEN: TOKEN });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (app) expect(await app.close()).toBe(0);
});

it('asks for the token once, keeps it for the session, and goes live with it', async () => {
  const page = await browser!.newPage();
  const prompts: string[] = [];
  let answer = 'a-wrong-token-0123456789';
  page.on('dialog', (dialog) => {
    prompts.push(dialog.message());
    void dialog.accept(answer);
    answer = TOKEN;
  });
  await page.goto(app!.origin);
  await page.waitForFunction(() => window.__bosun?.connectionState().status === 'connected' && window.__bosun.synced(), undefined, {
    timeout: 20_000,
  });
  // The wrong answer was refused and asked again; the right one stays for the session.
  expect(prompts.length).toBe(2);
  expect(prompts[0]).toMatch(/bosun requires a token/);
  expect(await page.evaluate(() => sessionStorage.getItem('bosun.token'))).toBe(TOKEN);

  // Mutations from the page carry it too: raise the limit with the page's own control.
  await page.fill('[data-testid="max-concurrency-input"]', '3');
  await page.click('[data-testid="max-concurrency-apply"]');
  await expect.poll(() => app!.app.queue.stats().maxConcurrency, { timeout: 10_000 }).toBe(3);
  // A reload keeps the session's token: no new prompt.
  await page.reload();
  await page.waitForFunction(() => window.__bosun?.connectionState().status === 'connected' && window.__bosun.synced(), undefined, {
    timeout: 20_000,
  });
  expect(prompts.length).toBe(2);
  await page.close();
}, 60_000);
