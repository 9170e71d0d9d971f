/**
 * Per-key rate limiting with token buckets: each key may spend `perMinute` at once and regains
 * them evenly over a minute. Used to cap startAgent / retryAgent per caller
 * (START_RATE_PER_MINUTE), so that one token cannot fill the queue or the engine in a burst.
 */
import { BosunError } from '../errors.js';
import type { Caller } from './auth.js';

export interface RateLimiterOptions {
  /** Units per minute, which is also the burst. At least 1. */
  readonly perMinute: number;
  /** Milliseconds; default Date.now. */
  readonly now?: () => number;
  /** Keys remembered at most; full buckets are forgotten first. Default 10,000. */
  readonly maxKeys?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimiterOptions) {
    if (!Number.isFinite(options.perMinute) || options.perMinute < 1) {
      throw new RangeError(`RateLimiter perMinute must be at least 1, got ${options.perMinute}`);
    }
    this.#capacity = options.perMinute;
    this.#perMs = options.perMinute / 60_000;
    this.#now = options.now ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 10_000;
  }

  /** Keys with a bucket now (for tests). */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Spends one unit of `key`. Returns 0 when it was available, else the milliseconds until one
   * will be (nothing is spent then).
   */
  take(key: string): number {
    const now = this.#now();
    const bucket = this.#refilled(key, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / this.#perMs);
  }

  #refilled(key: string, now: number): Bucket {
    let bucket = this.#buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(this.#capacity, bucket.tokens + Math.max(0, now - bucket.at) * this.#perMs);
      bucket.at = now;
      return bucket;
    }
    if (this.#buckets.size >= this.#maxKeys) this.#forget(now);
    bucket = { tokens: this.#capacity, at: now };
    this.#buckets.set(key, bucket);
    return bucket;
  }

  /** Drops the buckets that are full again; if none is, the oldest. */
  #forget(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.at) * this.#perMs >= this.#capacity) this.#buckets.delete(key);
    }
    if (this.#buckets.size >= this.#maxKeys) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
  }
}

/**
 * The admission check of startAgent / retryAgent: spends one start of the caller's allowance.
 * @throws BosunError RATE_LIMITED when the caller has used up `perMinute` starts.
 */
export function createStartGate(perMinute: number, now?: () => number): (caller: Caller, operation: string) => void {
  const limiter = new RateLimiter({ perMinute, ...(now ? { now } : {}) });
  return (caller, operation) => {
    const waitMs = limiter.take(caller.key);
    if (waitMs > 0) {
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      throw new BosunError(
        'RATE_LIMITED',
        `${operation}: at most ${perMinute} runs may be started a minute by this caller; try again in ${seconds} s`,
      );
    }
  };
}
