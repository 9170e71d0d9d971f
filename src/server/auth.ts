/**
 * Bearer-token authentication: BOSUN_API_TOKEN may do everything, BOSUN_READ_TOKEN may query and
 * subscribe. Tokens are compared in constant time (SHA-256 digests of equal length through
 * `crypto.timingSafeEqual`, against both tokens every time), so neither the length nor a prefix
 * of a token leaks through response times. With no token configured, authentication is off and
 * every caller may do everything (bosun then listens on loopback only; see src/config.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** `admin` may do everything; `read` may run queries and subscriptions only. */
export type CallerRole = 'admin' | 'read';

/** Who is calling, as far as bosun's access rules and per-caller limits care. */
export interface Caller {
  readonly role: CallerRole;
  /**
   * What per-caller limits count against: the token (`token:api`, `token:read`), or, with
   * authentication off, {@link ANONYMOUS_CALLER_KEY} for everyone: on loopback every caller is the
   * same principal, and a per-address key would let 127.0.0.2 (and the rest of 127/8) start anew.
   */
  readonly key: string;
}

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
