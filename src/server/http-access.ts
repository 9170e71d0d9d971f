/**
 * Who may use bosun over HTTP, decided before a request body is read.
 *
 * - With tokens (BOSUN_API_TOKEN): every request that reaches this plugin needs
 *   `Authorization: Bearer <token>` (either token; what a read token may do is decided per
 *   operation, see operation-access.ts) or gets HTTP 401 with `WWW-Authenticate: Bearer`. That
 *   covers /graphql (POST, GET and SSE), /metrics and artifact downloads (/runs/…). What yoga and the dashboard answer before
 *   this plugin stays open: /health, GraphiQL's page (a GET of /graphql asking for HTML, which asks
 *   for the token itself), CORS preflights, and the dashboard's files at / and /dashboard/*.
 * - Without tokens bosun listens on loopback only, and this plugin refuses (HTTP 403) any request
 *   whose Host header is not a loopback name: a page whose DNS name was rebound to 127.0.0.1 is
 *   same-origin with bosun as far as the browser knows, and only its Host header tells.
 */
import type { Plugin } from 'graphql-yoga';
import { bearerToken, type TokenAuth } from './auth.js';
import { hostOfHostHeader, isLoopbackHost } from '../shared/loopback.js';

/** A JSON GraphQL error response, the shape every GraphQL client reads. */
export function errorResponse(
  Response: typeof globalThis.Response,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ errors: [{ message, extensions: { code } }] }), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

/**
 * Whether a request with this Host header may reach bosun when authentication is off: a loopback
 * name, in a well-formed header (a Host with userinfo, such as `127.0.0.1:4000@evil.com`, is not).
 */
export function isLoopbackRequestHost(hostHeader: string | null | undefined): boolean {
  const host = hostHeader == null ? undefined : hostOfHostHeader(hostHeader);
  return host !== undefined && isLoopbackHost(host);
}

/** The yoga plugin; put it before every plugin that answers with data (metrics). */
export function useHttpAccess(auth: TokenAuth): Plugin {
  return {
    onRequest(payload) {
      const { request, fetchAPI } = payload;
      if (!auth.enabled) {
        if (isLoopbackRequestHost(request.headers.get('host'))) return;
        payload.endResponse(
          errorResponse(
            fetchAPI.Response,
            403,
            'FORBIDDEN',
            'bosun runs without BOSUN_API_TOKEN and answers only requests addressed to a loopback name (localhost, 127.0.0.1, [::1])',
          ),
        );
        return;
      }
      const token = bearerToken(request.headers.get('authorization'));
      if (auth.authenticate(token)) return;
      payload.endResponse(
        errorResponse(
          fetchAPI.Response,
          401,
          'UNAUTHENTICATED',
          token === undefined
            ? 'Authentication required: send Authorization: Bearer <token> (BOSUN_API_TOKEN or BOSUN_READ_TOKEN)'
            : 'The bearer token is not valid',
          { 'www-authenticate': 'Bearer realm="bosun"' },
        ),
      );
    },
  };
}
