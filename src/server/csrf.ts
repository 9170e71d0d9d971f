/**
 * Cross-site request forgery prevention for the GraphQL endpoint. A page on another site can
 * make a browser send a "simple" request — a GET, or a POST of a form or of text/plain — without
 * asking bosun first (no CORS preflight), and yoga would execute it (it reads form-encoded POSTs
 * and GET queries). So a request to the endpoint must either have a content type that is not
 * simple (`application/json`, which GraphiQL, the dashboard and every GraphQL client send, and
 * which a cross-site page cannot send without a preflight that {@link OriginPolicy} refuses) or
 * carry the {@link CSRF_HEADER} header (which a page cannot add without that preflight either).
 * GraphiQL's page itself (a GET asking for HTML) is served before this check.
 */
import type { Plugin } from 'graphql-yoga';

/** The header that marks a simple request (e.g. a GET query from curl) as not forged. Any value. */
export const CSRF_HEADER = 'x-graphql-csrf';

/** The content types a browser sends cross-site without a preflight. */
const SIMPLE_CONTENT_TYPES: ReadonlySet<string> = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);

/** Whether `request` is one that a browser would send cross-site without a preflight. */
export function isSimpleRequest(request: Request): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD' && request.method !== 'POST') return false;
  const contentType = request.headers.get('content-type');
  if (contentType === null) return true;
  const mime = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return mime === '' || SIMPLE_CONTENT_TYPES.has(mime);
}

/** The yoga plugin: simple requests to `graphqlPath` without {@link CSRF_HEADER} get HTTP 400. */
export function useCsrfPrevention(graphqlPath: string): Plugin {
  return {
    onRequest(payload) {
      const { request, url, fetchAPI } = payload;
      if (url.pathname !== graphqlPath || !isSimpleRequest(request) || request.headers.has(CSRF_HEADER)) return;
      const body = JSON.stringify({
        errors: [
          {
            message:
              `This request was refused as a possible cross-site request forgery: send it with content-type ` +
              `application/json, or add the header ${CSRF_HEADER}.`,
            extensions: { code: 'BAD_REQUEST' },
          },
        ],
      });
      payload.endResponse(new fetchAPI.Response(body, { status: 400, headers: { 'content-type': 'application/json; charset=utf-8' } }));
    },
  };
}
