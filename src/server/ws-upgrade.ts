/**
 * Which WebSocket upgrades bosun accepts, decided from the HTTP request before the handshake:
 * a Host header and target that parse (400: see request-target.ts), the GraphQL path only (404),
 * not while closing (503), a loopback Host when authentication is off (403, as for HTTP: see
 * http-access.ts), and an `Origin` the {@link OriginPolicy} allows when there is one (403: a
 * browser lets any page open a socket anywhere, so this is the only thing that keeps other sites'
 * pages off; clients that send no Origin are not browsers and pass). How many sockets may be open
 * is decided next (streaming-slots.ts, 503). Tokens are checked afterwards, in graphql-ws's
 * `connection_init` (browsers cannot send headers on an upgrade).
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { isLoopbackRequestHost } from './http-access.js';
import type { OriginPolicy } from './origin-policy.js';
import { malformedRequestReason } from './request-target.js';

/** Why an upgrade is refused: the HTTP status and a one-line explanation. */
export interface UpgradeRefusal {
  readonly status: 400 | 403 | 404 | 503;
  readonly message: string;
}

export interface UpgradeRules {
  readonly path: string;
  readonly origins: OriginPolicy;
  /** Whether tokens are required (else only loopback Host headers are served). */
  readonly authEnabled: boolean;
  readonly closing: boolean;
}

/** The refusal of `request`, or undefined when it may upgrade. */
export function checkUpgrade(request: IncomingMessage, rules: UpgradeRules): UpgradeRefusal | undefined {
  const malformed = malformedRequestReason(request);
  if (malformed !== undefined) return { status: 400, message: malformed };
  const pathname = new URL(request.url ?? '/', 'http://bosun.invalid').pathname;
  if (pathname !== rules.path) return { status: 404, message: `No WebSocket endpoint at ${pathname}; use ${rules.path}` };
  if (rules.closing) return { status: 503, message: 'bosun is shutting down' };
  const host = request.headers.host;
  if (!rules.authEnabled && !isLoopbackRequestHost(host)) {
    return { status: 403, message: 'bosun runs without BOSUN_API_TOKEN and answers only requests addressed to a loopback name' };
  }
  const origin = request.headers.origin;
  if (origin !== undefined && !rules.origins.allows(origin, host)) {
    return {
      status: 403,
      message: `WebSocket connections from origin ${JSON.stringify(origin.slice(0, 200))} are not allowed (see ALLOWED_ORIGINS)`,
    };
  }
  return undefined;
}

/** Answers the upgrade request on `socket` with `refusal` as a plain HTTP response, and closes it. */
export function refuseUpgrade(socket: Duplex, refusal: UpgradeRefusal): void {
  const body = `${refusal.message}\n`;
  const head = [
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(refusal.status === 503 ? ['Retry-After: 5'] : []),
  ].join('\r\n');
  // A client that hangs up first is no error of ours.
  socket.on('error', () => {});
  socket.end(`${head}\r\n\r\n${body}`);
}
