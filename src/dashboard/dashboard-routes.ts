/**
 * The live dashboard over HTTP: a yoga plugin that answers `/` with the page and `/dashboard/*`
 * with the files of the allow-list ({@link loadDashboardAssets}), before yoga looks at the
 * request. Everything else (/graphql, GraphiQL, /health, /metrics) goes on to yoga untouched.
 */
import { readFile, stat } from 'node:fs/promises';
import type { Plugin } from 'graphql-yoga';
import { DASHBOARD_PAGE, DASHBOARD_PREFIX, loadDashboardAssets, type DashboardAsset, type DashboardAssets } from './dashboard-assets.js';
import { dashboardHeaders } from './security-headers.js';

export interface DashboardOptions {
  /** The files to serve; default {@link loadDashboardAssets}(). */
  readonly assets?: DashboardAssets;
}

/** Whether `pathname` is the dashboard's (the page, or anything under `/dashboard`). */
export function isDashboardPath(pathname: string): boolean {
  return pathname === '/' || pathname === '/dashboard' || pathname.startsWith(DASHBOARD_PREFIX);
}

/**
 * The yoga plugin that serves the dashboard. Only GET and HEAD are answered (405 otherwise); a
 * path under `/dashboard/` that is not in the allow-list is a 404, never a file lookup.
 * Responses carry the strict CSP of {@link dashboardHeaders} and an ETag, so a reload revalidates
 * cheaply.
 */
export function useDashboard(options: DashboardOptions = {}): Plugin {
  const assets = options.assets ?? loadDashboardAssets();
  const page = assets.get(`${DASHBOARD_PREFIX}${DASHBOARD_PAGE}`);
  if (!page) throw new Error(`dashboard: ${DASHBOARD_PAGE} is missing from the assets`);

  const lookup = (pathname: string): DashboardAsset | undefined => {
    if (pathname === '/' || pathname === DASHBOARD_PREFIX) return page;
    return assets.get(pathname);
  };

  return {
    onRequest(payload) {
      const { url, request, fetchAPI } = payload;
      // Called through the payload, not taken off it: it is declared as a method.
      const endResponse = (response: Response): void => payload.endResponse(response);
      const { pathname } = url;
      if (!isDashboardPath(pathname)) return;
      const { Response } = fetchAPI;
      if (pathname === '/dashboard') {
        endResponse(new Response(null, { status: 308, headers: { location: '/' } }));
        return;
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        endResponse(new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } }));
        return;
      }
      const asset = lookup(pathname);
      if (!asset) {
        endResponse(new Response('Not found\n', { status: 404, headers: dashboardHeaders('text/plain; charset=utf-8') }));
        return;
      }
      return serve(asset, request, Response).then(endResponse);
    },
  };
}

async function serve(asset: DashboardAsset, request: Request, Response: typeof globalThis.Response): Promise<Response> {
  try {
    const info = await stat(asset.filePath);
    const etag = `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    const headers = { ...dashboardHeaders(asset.contentType), etag };
    if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers });
    const body = request.method === 'HEAD' ? null : await readFile(asset.filePath);
    return new Response(body, { status: 200, headers: { ...headers, 'content-length': String(info.size) } });
  } catch {
    // Removed since start-up (a broken checkout): say so rather than hang or crash.
    return new Response('Not found\n', { status: 404, headers: dashboardHeaders('text/plain; charset=utf-8') });
  }
}
