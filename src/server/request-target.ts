/**
 * Requests whose address bosun cannot read. Yoga (through @whatwg-node/server) builds each
 * request's URL from the Host header and the request target (`http://${host}${url}`) before any
 * plugin runs; when that is not a URL it answered 500 with the stack trace and module paths, to
 * anyone. The WebSocket upgrade path parses the target too, and threw (unhandled) on one such as
 * `//[`. Both now refuse such requests first, with HTTP 400 and one short line.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The one-line reason `request` cannot be served, or undefined when its Host and target parse. */
export function malformedRequestReason(request: Pick<IncomingMessage, 'headers' | 'url'>): string | undefined {
  const host = request.headers.host;
  // Without a Host header (HTTP/1.0) yoga uses the local address, which always parses.
  const authority = host ?? 'localhost';
  if (host !== undefined && !parses(`http://${authority}/`)) return 'Bad request: malformed Host header';
  const target = request.url ?? '/';
  // As yoga reads it, and as the WebSocket upgrade check reads it.
  if (!parses(`http://${authority}${target}`) || !parses(target, 'http://bosun.invalid')) {
    return 'Bad request: malformed request target';
  }
  return undefined;
}

const parses = (url: string, base?: string): boolean => URL.canParse(url, base);

/**
 * Answers `response` with `status` and a GraphQL-shaped JSON error (`extensions.code`), as the
 * yoga plugins' refusals look, and closes the connection when `close` is set (a request whose
 * framing may not be trusted).
 */
export function sendErrorResponse(
  response: ServerResponse,
  status: number,
  code: string,
  message: string,
  options: { readonly headers?: Readonly<Record<string, string>>; readonly close?: boolean } = {},
): void {
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    ...(options.close ? { connection: 'close' } : {}),
    ...options.headers,
  });
  response.end(body);
}
