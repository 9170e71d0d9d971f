/**
 * Which browser pages may talk to bosun: its own origin (a page served by bosun, whatever name
 * it was reached by) and those listed in ALLOWED_ORIGINS. It decides WebSocket upgrades (a
 * browser sends `Origin` on every one and lets any page open a socket anywhere) and CORS (which
 * cross-origin pages may read HTTP answers and send non-simple requests). Requests with no
 * `Origin` come from non-browser clients and are not the policy's business.
 */
import type { CORSOptions } from 'graphql-yoga';
import { CSRF_HEADER } from './csrf.js';

export class OriginPolicy {
  readonly #allowed: ReadonlySet<string>;

  /** @param allowed origins such as `https://ci.example.com` (as config normalizes them). */
  constructor(allowed: readonly string[] = []) {
    this.#allowed = new Set(allowed);
  }

  /**
   * Whether a page at `origin` may call bosun when it reaches bosun as `host` (the request's Host
   * header): same host and port, or listed. `null` and other opaque origins never are.
   */
  allows(origin: string, host: string | null | undefined): boolean {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    // The scheme is not compared: TLS may end at a proxy in front of bosun.
    if (host && url.host === host.trim().toLowerCase()) return true;
    return this.#allowed.has(url.origin);
  }

  /**
   * Yoga's `cors` option: allowed origins get their own origin back (no credentials: bosun uses
   * bearer tokens, not cookies); any other gets no CORS headers, so the browser keeps the answer
   * from the page and refuses to send non-simple requests.
   */
  corsOptions(): (request: Request) => CORSOptions {
    return (request) => {
      const origin = request.headers.get('origin');
      if (origin === null || !this.allows(origin, request.headers.get('host'))) return false;
      return {
        origin: [origin],
        credentials: false,
        methods: ['GET', 'POST'],
        allowedHeaders: ['authorization', 'content-type', 'accept', CSRF_HEADER],
        maxAge: 600,
      };
    };
  }
}
