/**
 * Bearer-token authentication: BOSUN_API_TOKEN may do everything, BOSUN_READ_TOKEN may query and
 * subscribe. Tokens are compared in constant time (SHA-256 digests of equal length through
 * `crypto.timingSafeEqual`, against both tokens every time), so neither the length nor a prefix
 * of a token leaks through response times. With no token configured, authentication is off and
 * every caller may do everything (bosun then listens on loopback only; see src/config.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Caller } from '../api/context.js';

// The caller lives with the API context that carries it, so that api/ never imports server/.
export type { Caller, CallerRole } from '../api/context.js';

export interface TokenAuthOptions {
  readonly apiToken?: string | undefined;
  readonly readToken?: string | undefined;
}

/** The one key of every caller when authentication is off. */
export const ANONYMOUS_CALLER_KEY = 'anonymous';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

export class TokenAuth {
  readonly #api: Buffer | undefined;
  readonly #read: Buffer | undefined;

  constructor(options: TokenAuthOptions = {}) {
    this.#api = options.apiToken === undefined ? undefined : digest(options.apiToken);
    this.#read = options.readToken === undefined ? undefined : digest(options.readToken);
  }

  /** Whether a token is required (BOSUN_API_TOKEN is set). */
  get enabled(): boolean {
    return this.#api !== undefined;
  }

  /**
   * The caller that presents `token`, or undefined when it is refused (no token, or not one of
   * ours). With authentication off, everyone is the same admin ({@link ANONYMOUS_CALLER_KEY}).
   */
  authenticate(token: string | undefined): Caller | undefined {
    if (this.#api === undefined) return { role: 'admin', key: ANONYMOUS_CALLER_KEY };
    if (token === undefined || token === '') return undefined;
    const presented = digest(token);
    // Both comparisons always run: which token matched must not show in the timing either.
    const isApi = timingSafeEqual(presented, this.#api);
    const isRead = this.#read !== undefined && timingSafeEqual(presented, this.#read);
    if (isApi) return { role: 'admin', key: 'token:api' };
    if (isRead) return { role: 'read', key: 'token:read' };
    return undefined;
  }
}

/** The token of an `Authorization: Bearer <token>` header; undefined for anything else. */
export function bearerToken(header: string | null | undefined): string | undefined {
  const match = /^\s*Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * The token of graphql-ws `connectionParams`: `authorization` (or `Authorization`) holding
 * `Bearer <token>` or the bare token. Undefined when absent or not a string.
 */
export function connectionParamsToken(params: unknown): string | undefined {
  if (params === null || typeof params !== 'object') return undefined;
  const record = params as Record<string, unknown>;
  const value = record['authorization'] ?? record['Authorization'];
  if (typeof value !== 'string') return undefined;
  return bearerToken(value) ?? (/^\S+$/.test(value.trim()) ? value.trim() : undefined);
}
