/**
 * Cross-site request forgery prevention for the GraphQL endpoint. A page on another site can
 * make a browser send a "simple" request — a GET, or a POST of a form or of text/plain — without
 * asking bosun first (no CORS preflight); it cannot read the answer (no CORS for other origins,
 * see {@link OriginPolicy}), but what the request does is done.
 *
 * - A GET *query* is answered as it is, without any extra header, as the GraphQL-over-HTTP spec
 *   and clients such as urql (whose default sends queries as GET), graphql-request's GET mode and
 *   `curl -G` expect: a query changes nothing, and its answer stays unread by the forging page.
 * - A GET *mutation* is refused by yoga with 405 (mutations need POST).
 * - A GET *subscription* needs the {@link CSRF_HEADER} header (400 without it): it changes
 *   nothing either, but it holds one of the MAX_WS_CONNECTIONS streaming slots for as long as it
 *   is open, and a page on any site could fill them. Clients subscribe over POST or graphql-ws.
 * - A POST must have a content type that is not simple (`application/json`, which GraphiQL,
 *   the dashboard and every GraphQL client send, and which a cross-site page cannot send without
 *   a preflight that OriginPolicy refuses) or carry the {@link CSRF_HEADER} header (which a page
 *   cannot add without that preflight either): a form or text/plain body gets 400 without it.
 * GraphiQL's page itself (a GET asking for HTML) is served before these checks.
 */
import { GraphQLError, OperationTypeNode, getOperationAST, type DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** The header that marks a simple request (a form POST, a GET subscription) as not forged. Any value. */
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

/** Whether the operation behind a request may be forged: read by method, so before the body is parsed. */
const isSafeMethod = (method: string): boolean => method === 'GET' || method === 'HEAD';

const refusalMessage = (what: string): string =>
  `This request was refused as a possible cross-site request forgery: ${what}, or add the header ${CSRF_HEADER}.`;

/**
 * The yoga plugin: simple POSTs to `graphqlPath` without {@link CSRF_HEADER} get HTTP 400 before
 * their body is read; GET subscriptions without it get HTTP 400 once the document is parsed (the
 * method alone does not tell a query from a subscription).
 */
export function useCsrfPrevention(graphqlPath: string): Plugin {
  return {
    onRequest(payload) {
      const { request, url, fetchAPI } = payload;
      if (url.pathname !== graphqlPath || isSafeMethod(request.method) || !isSimpleRequest(request) || request.headers.has(CSRF_HEADER)) return;
      const body = JSON.stringify({
        errors: [{ message: refusalMessage('send it with content-type application/json'), extensions: { code: 'BAD_REQUEST' } }],
      });
      payload.endResponse(new fetchAPI.Response(body, { status: 400, headers: { 'content-type': 'application/json; charset=utf-8' } }));
    },
    onParse() {
      // Yoga's context carries the HTTP request (graphql-ws operations have none: not our concern).
      // Thrown, not set as the parse result: yoga's parse cache would keep a result for the
      // document and hand the refusal to the next POST of it too.
      return ({ result, context }) => {
        const { request, params } = context as { request?: Request; params?: { operationName?: string | null } };
        if (!request || !isSafeMethod(request.method) || request.headers.has(CSRF_HEADER) || result instanceof Error || !result) return;
        const operation = getOperationAST(result as DocumentNode, params?.operationName);
        if (operation?.operation !== OperationTypeNode.SUBSCRIPTION) return;
        throw new GraphQLError(refusalMessage('subscribe with POST (content-type application/json) or over graphql-ws'), {
          extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
        });
      };
    },
  };
}
