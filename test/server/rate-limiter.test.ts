/**
 * The token buckets behind START_RATE_PER_MINUTE, on a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { BosunError } from '../../src/errors.js';
import { RateLimiter, createStartGate } from '../../src/server/rate-limiter.js';

describe('RateLimiter', () => {
  it('allows a burst of perMinute, then one more each 60 s / perMinute, per key', () => {
    let now = 0;
    const limiter = new RateLimiter({ perMinute: 6, now: () => now });
    for (let i = 0; i < 6; i += 1) expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(10_000);
    expect(limiter.take('b')).toBe(0);
    now = 4_000;
    expect(limiter.take('a')).toBe(6_000);
    now = 10_000;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(10_000);
    // Refills never exceed the burst.
    now = 10 * 60_000;
    for (let i = 0; i < 6; i += 1) expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBeGreaterThan(0);
  });

  it('forgets full buckets first, then the oldest, past maxKeys', () => {
    let now = 0;
    const limiter = new RateLimiter({ perMinute: 2, now: () => now, maxKeys: 3 });
    limiter.take('a');
    limiter.take('b');
    limiter.take('c');
    expect(limiter.size).toBe(3);
    now = 60_000; // every bucket is full again
    limiter.take('d');
    expect(limiter.size).toBe(1);
    limiter.take('e');
    limiter.take('f');
    limiter.take('g');
    expect(limiter.size).toBe(3);
  });

  it('refuses a rate below 1', () => {
    expect(() => new RateLimiter({ perMinute: 0 })).toThrow(RangeError);
  });
});

describe('createStartGate', () => {
  it('throws RATE_LIMITED naming the operation and when to try again', () => {
    let now = 0;
    const admit = createStartGate(2, () => now);
    const caller = { role: 'admin', key: 'token:api' } as const;
    admit(caller, 'startAgent');
    admit(caller, 'retryAgent');
    let error: unknown;
    try {
      admit(caller, 'startAgent');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BosunError);
    expect(error).toMatchObject({
      code: 'RATE_LIMITED',
      message: 'startAgent: at most 2 runs may be started a minute by this caller; try again in 30 s',
    });
    // Another caller has its own allowance.
    expect(() => admit({ role: 'admin', key: 'address:10.0.0.2' }, 'startAgent')).not.toThrow();
    now = 30_000;
    expect(() => admit(caller, 'startAgent')).not.toThrow();
  });
});
