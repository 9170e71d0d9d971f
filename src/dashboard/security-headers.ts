/**
 * The headers every dashboard response carries. The Content-Security-Policy lets the page load
 * only bosun's own files — no inline script or style, no other host — and talk only to bosun
 * (HTTP for mutations, graphql-ws over `ws:`/`wss:`), so the page works offline and an injected
 * string cannot run; with X-Frame-Options it also keeps the page out of other sites' frames.
 * The same frame protection goes on GraphiQL's page (src/server/frame-protection.ts).
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

/** The CSP directive that keeps every page of bosun out of other sites' frames (clickjacking). */
export const FRAME_ANCESTORS_NONE = "frame-ancestors 'none'";

/**
 * `csp` (a Content-Security-Policy value, or none) with `frame-ancestors 'none'` in place of any
 * frame-ancestors directive it has; its other directives are kept.
 */
export function withFrameAncestorsNone(csp: string | null | undefined): string {
  const directives = (csp ?? '')
    .split(';')
    .map((directive) => directive.trim())
    .filter((directive) => directive !== '' && !/^frame-ancestors(\s|$)/i.test(directive));
  return [...directives, FRAME_ANCESTORS_NONE].join('; ');
}

/**
 * The headers that keep an HTML page out of frames: CSP frame-ancestors for browsers that read
 * it, X-Frame-Options for those that do not.
 */
export const FRAME_DENY_HEADERS = { 'x-frame-options': 'DENY' } as const;

/** Security and caching headers for a dashboard file of `contentType`. */
export function dashboardHeaders(contentType: string): Record<string, string> {
  return {
    'content-type': contentType,
    'content-security-policy': DASHBOARD_CSP,
    ...FRAME_DENY_HEADERS,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    // Small files that change with bosun: revalidate each time rather than serve a stale page.
    'cache-control': 'no-cache',
  };
}
