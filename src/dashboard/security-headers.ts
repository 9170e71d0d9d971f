/**
 * The headers every dashboard response carries. The Content-Security-Policy lets the page load
 * only bosun's own files — no inline script or style, no other host — and talk only to bosun
 * (HTTP for mutations, graphql-ws over `ws:`/`wss:`), so the page works offline and an injected
 * string cannot run.
 */

/** The dashboard's Content-Security-Policy. */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self' ws: wss:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Security and caching headers for a dashboard file of `contentType`. */
export function dashboardHeaders(contentType: string): Record<string, string> {
  return {
    'content-type': contentType,
    'content-security-policy': DASHBOARD_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    // Small files that change with bosun: revalidate each time rather than serve a stale page.
    'cache-control': 'no-cache',
  };
}
