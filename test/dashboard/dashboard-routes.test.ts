/**
 * The dashboard over plain HTTP (the server with fake services, no browser): the page and its
 * files from a fixed allow-list with the right types and a strict CSP, nothing else under
 * /dashboard/, and yoga's own routes unchanged beside it.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDashboardAssets, siblingImports } from '../../src/dashboard/dashboard-assets.js';
import { DASHBOARD_CSP } from '../../src/dashboard/security-headers.js';
import { startTestServer, type TestServer } from '../helpers/start-test-server.js';
import type { FakeServices } from '../helpers/fake-services.js';

let test: TestServer<FakeServices>;

beforeAll(async () => {
  test = await startTestServer();
});

afterAll(async () => {
  await test.close();
});

/** GET with the path sent exactly as given (fetch would normalise `..` and `%2e`). */
function rawGet(path: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(test.origin);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the dashboard routes', () => {
  it('serves the page at / with a strict CSP and the security headers', async () => {
    const response = await fetch(`${test.origin}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toContain("default-src 'self'");
    expect(DASHBOARD_CSP).toContain("connect-src 'self' ws: wss:");
    expect(DASHBOARD_CSP).not.toContain('unsafe-inline');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await response.text();
    expect(html).toContain('<script type="module" src="/dashboard/js/main.js"></script>');
    // Nothing inline for the CSP to refuse.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=/);
  });

  it('serves the vendor files from node_modules with their content types', async () => {
    const files: [string, string][] = [
      ['/dashboard/vendor/uplot/uPlot.esm.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/vendor/uplot/uPlot.min.css', 'text/css; charset=utf-8'],
      ['/dashboard/vendor/graphql-ws/client.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/dashboard.css', 'text/css; charset=utf-8'],
      ['/dashboard/favicon.svg', 'image/svg+xml'],
    ];
    for (const [path, type] of files) {
      const response = await fetch(`${test.origin}${path}`);
      expect({ path, status: response.status, type: response.headers.get('content-type') }).toEqual({ path, status: 200, type });
      expect(response.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    }
    // Every module graphql-ws's browser client imports is served too.
    const client = await (await fetch(`${test.origin}/dashboard/vendor/graphql-ws/client.js`)).text();
    const chunks = siblingImports(client);
    expect(chunks.length).toBeGreaterThan(0);
    for (const chunk of chunks) expect((await fetch(`${test.origin}/dashboard/vendor/graphql-ws/${chunk}`)).status).toBe(200);
  });

  it('serves every module the page imports, and only files of the allow-list', async () => {
    const assets = loadDashboardAssets();
    const served = [...assets.keys()];
    const client = readFileSync(assets.get('/dashboard/vendor/graphql-ws/client.js')!.filePath, 'utf8');
    expect(served.every((path) => path.startsWith('/dashboard/'))).toBe(true);
    expect(served.filter((path) => path.startsWith('/dashboard/vendor/')).sort()).toEqual(
      [
        '/dashboard/vendor/graphql-ws/client.js',
        ...siblingImports(client).map((chunk) => `/dashboard/vendor/graphql-ws/${chunk}`),
        '/dashboard/vendor/uplot/uPlot.esm.js',
        '/dashboard/vendor/uplot/uPlot.min.css',
      ].sort(),
    );
    // Each of the page's modules imports only files that are served.
    for (const path of served.filter((p) => p.startsWith('/dashboard/js/'))) {
      const source = await (await fetch(`${test.origin}${path}`)).text();
      for (const match of source.matchAll(/^import\b[^'";]*?\bfrom\s*'([^']+)'/gm)) {
        const target = new URL(match[1]!, `http://x${path}`).pathname;
        expect({ from: path, target, served: assets.has(target) }).toEqual({ from: path, target, served: true });
      }
    }
  });

  it('answers 404 for any other path under /dashboard/, however it is spelled', async () => {
    for (const path of [
      '/dashboard/nope.js',
      '/dashboard/vendor/uplot/package.json',
      '/dashboard/vendor/uplot/../../../package.json',
      '/dashboard/%2e%2e/%2e%2e/package.json',
      '/dashboard/vendor/graphql-ws/..%2fpackage.json',
      '/dashboard/js/../../../../etc/passwd',
      '/dashboard//etc/passwd',
    ]) {
      const response = await rawGet(path);
      expect({ path, status: response.status }).toEqual({ path, status: 404 });
      expect(response.body).not.toContain('"name"');
      expect(response.body).not.toContain('root:');
    }
  });

  it('refuses methods other than GET and HEAD, and revalidates with the ETag', async () => {
    const post = await fetch(`${test.origin}/`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(`${test.origin}/dashboard/js/main.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const etag = head.headers.get('etag');
    expect(etag).toBeTruthy();
    const again = await fetch(`${test.origin}/dashboard/js/main.js`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
  });

  it('leaves GraphiQL at /graphql, /health and /metrics as they were', async () => {
    const graphiql = await fetch(test.url, { headers: { accept: 'text/html' } });
    expect(graphiql.status).toBe(200);
    expect(await graphiql.text()).toMatch(/graphiql/i);
    expect((await fetch(`${test.origin}/health`)).status).toBe(200);
    const metrics = await fetch(`${test.origin}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('bosun_queue_running');
    const query = await fetch(test.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ queueStatus { maxConcurrency } }' }),
    });
    expect(((await query.json()) as { data: unknown }).data).toEqual({ queueStatus: { maxConcurrency: 1 } });
  });
});
