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
  if (host !== undefined && !hostParses(host)) return 'Bad request: malformed Host header';
  const target = request.url ?? '/';
  // As yoga reads it, and as the WebSocket upgrade check reads it.
  if (!PLAIN_TARGET.test(target) && (!parses(`http://${authority}${target}`) || !parses(target, 'http://bosun.invalid'))) {
    return 'Bad request: malformed request target';
  }
  return undefined;
}

const parses = (url: string, base?: string): boolean => URL.canParse(url, base);

/**
 * A path (not `//…`, which reads as an authority) of characters that need no parsing to be a
 * URL's path and query: most targets are, and they are taken without building a URL (3 µs a
 * request); the rest are checked by parsing.
 */
const PLAIN_TARGET = /^\/(?!\/)[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;

/**
 * A host name whose last label starts with a letter (so not read as an IPv4 address), or a dotted
 * quad, with an optional port: most Host headers are, and they need no URL built either.
 */
const PLAIN_HOST =
  /^(?:(?:[A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*|(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))(?::(\d{1,5}))?$/;

function hostParses(host: string): boolean {
  const plain = PLAIN_HOST.exec(host);
  if (plain !== null && (plain[1] === undefined || Number(plain[1]) <= 65535)) return true;
  return parses(`http://${host}/`);
}

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
