/**
 * Clickjacking: no page of bosun may be shown in another site's frame. GraphiQL (GET /graphql
 * asking for HTML) and the dashboard (/) carry `Content-Security-Policy: frame-ancestors 'none'`
 * and `X-Frame-Options: DENY`, with or without tokens; the dashboard keeps the rest of its CSP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP, withFrameAncestorsNone } from '../../src/dashboard/security-headers.js';
import { API_TOKEN, startHardenedServer, type HardenedServer } from './hardened-server.js';

let test: HardenedServer | undefined;
afterEach(async () => {
  await test?.close();
  test = undefined;
});

/** The directives of a Content-Security-Policy, by name. */
function directives(csp: string | null): Map<string, string> {
  const found = new Map<string, string>();
  for (const directive of (csp ?? '')
    .split(';')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const [name = '', ...values] = directive.split(/\s+/);
    expect(found.has(name), `${name} twice in ${csp}`).toBe(false);
    found.set(name, values.join(' '));
  }
  return found;
}

describe('HTML pages', () => {
  it.each([
    ['without tokens', {}],
    ['with tokens', { apiToken: API_TOKEN }],
  ])('cannot be framed: GraphiQL and the dashboard (%s)', async (_case, config) => {
    test = await startHardenedServer(config);
    const pages = [
      ['GraphiQL', test.url, { accept: 'text/html' }],
      ['the dashboard', `${test.origin}/`, {}],
      ['the dashboard page by its file name', `${test.origin}/dashboard/index.html`, {}],
    ] as const;
    for (const [name, url, headers] of pages) {
      const response = await fetch(url, { headers });
      expect(response.status, name).toBe(200);
      expect(response.headers.get('content-type'), name).toMatch(/^text\/html/);
      await response.arrayBuffer();
      expect(response.headers.get('x-frame-options'), name).toBe('DENY');
      expect(directives(response.headers.get('content-security-policy')).get('frame-ancestors'), name).toBe("'none'");
    }
    // The dashboard's own policy is kept whole.
    const dashboard = await fetch(`${test.origin}/`);
    await dashboard.arrayBuffer();
    expect(directives(dashboard.headers.get('content-security-policy'))).toEqual(directives(DASHBOARD_CSP));
  });

  it('merges frame-ancestors into a policy, replacing any it had', () => {
    expect(withFrameAncestorsNone(null)).toBe("frame-ancestors 'none'");
    expect(withFrameAncestorsNone("default-src 'self'; frame-ancestors https://evil.example ;img-src data:")).toBe(
      "default-src 'self'; img-src data:; frame-ancestors 'none'",
    );
    expect(directives(withFrameAncestorsNone(DASHBOARD_CSP))).toEqual(directives(DASHBOARD_CSP));
  });
});
