/**
 * GraphiQL with a token: when bosun requires one, the page asks for it once (a prompt), keeps it
 * in the browser session (sessionStorage, gone when the tab closes) and sends it with every
 * operation: as `Authorization: Bearer <token>` on HTTP requests to the GraphQL endpoint, and as
 * `connectionParams.authorization` in graphql-ws's `connection_init`. A refused token (HTTP 401,
 * or close 4403 on the socket) is forgotten, so the next operation asks again.
 *
 * It is a small inline script placed before GraphiQL's own, wrapping `fetch` and `WebSocket`
 * (the options of @graphql-yoga/render-graphiql are fixed when the page is rendered and cannot
 * hold a secret the server must not know). It loads nothing, uses no eval, and the token never
 * appears in the page.
 */

/** Where the page keeps the token (sessionStorage). */
export const GRAPHIQL_TOKEN_STORAGE_KEY = 'bosun.token';

/** The script's source for a GraphQL endpoint at `graphqlPath`. */
export function graphiqlTokenScript(graphqlPath: string): string {
  return `(() => {
  'use strict';
  const KEY = ${JSON.stringify(GRAPHIQL_TOKEN_STORAGE_KEY)};
  const ENDPOINT = new URL(${JSON.stringify(graphqlPath)}, location.href);
  const stored = () => { try { return sessionStorage.getItem(KEY); } catch { return null; } };
  const forget = () => { try { sessionStorage.removeItem(KEY); } catch {} };
  const token = () => {
    const known = stored();
    if (known) return known;
    const entered = window.prompt('bosun requires a token (BOSUN_API_TOKEN, or BOSUN_READ_TOKEN to only query). It is kept for this browser session.');
    const value = (entered || '').trim().replace(/^Bearer\\s+/i, '');
    if (!value) return null;
    try { sessionStorage.setItem(KEY, value); } catch {}
    return value;
  };
  const isEndpoint = (target) => {
    try {
      const url = new URL(target, location.href);
      return url.host === ENDPOINT.host && url.pathname === ENDPOINT.pathname;
    } catch { return false; }
  };
  const nativeFetch = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const target = typeof input === 'string' || input instanceof URL ? String(input) : input.url;
    if (!isEndpoint(target)) return nativeFetch(input, init);
    const headers = new Headers((init && init.headers) || (input instanceof Request ? input.headers : undefined));
    const value = headers.has('authorization') ? null : token();
    if (value) headers.set('authorization', 'Bearer ' + value);
    const response = await nativeFetch(input, { ...(init || {}), headers });
    if (response.status === 401) forget();
    return response;
  };
  const NativeWebSocket = window.WebSocket;
  class TokenWebSocket extends NativeWebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      this.addEventListener('close', (event) => { if (event.code === 4403) forget(); });
    }
    send(data) {
      if (typeof data === 'string' && data.includes('"connection_init"')) {
        try {
          const message = JSON.parse(data);
          const value = message && message.type === 'connection_init' && isEndpoint(this.url.replace(/^ws/, 'http')) ? token() : null;
          if (value) data = JSON.stringify({ ...message, payload: { ...(message.payload || {}), authorization: 'Bearer ' + value } });
        } catch {}
      }
      super.send(data);
    }
  }
  window.WebSocket = TokenWebSocket;
})();`;
}

/** `html` (GraphiQL's page) with the token script as the first script of its head. */
export function withGraphiQLToken(html: string, graphqlPath: string): string {
  const script = `<script>${graphiqlTokenScript(graphqlPath)}</script>`;
  const head = /<head[^>]*>/i.exec(html);
  if (!head) throw new Error('GraphiQL page without <head>: cannot add the token script');
  const at = head.index + head[0].length;
  return `${html.slice(0, at)}\n${script}${html.slice(at)}`;
}
