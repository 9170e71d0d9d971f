/**
 * The store's health: a failed write is retried with a bounded backoff, reported DEGRADED only
 * after its retries failed too, and OK again by itself once they succeed. Timers are faked: the
 * backoff is asserted by when the retries run, not by waiting.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StoreHealth } from '../../src/store/store-health.js';
import { createTestLogger } from '../helpers/test-logger.js';

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-03-01T12:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A retry that fails until `healed` is set, recording when it ran (ms since the start). */
function flakyWrite() {
  const start = Date.now();
  const state = {
    healed: false,
    calls: [] as number[],
    retry: () => {
      state.calls.push(Date.now() - start);
      if (!state.healed) throw new Error('database or disk is full');
    },
  };
  return state;
}

describe('StoreHealth', () => {
  it('is OK after one failure, DEGRADED once the retries failed too, and OK again when a retry succeeds', () => {
    const logger = createTestLogger();
    const health = new StoreHealth({ logger });
    const write = flakyWrite();
    health.failed('log lines', new Error('database or disk is full'), write.retry);
    expect(health.report()).toEqual({ status: 'OK', error: null, since: null });
    expect(health.isFailing('log lines')).toBe(true);

    vi.advanceTimersByTime(100);
    expect(health.report().status).toBe('OK');
    vi.advanceTimersByTime(200);
    expect(write.calls).toEqual([100, 300]);
    expect(health.report()).toEqual({
      status: 'DEGRADED',
      error: 'log lines: database or disk is full',
      since: new Date('2026-03-01T12:00:00.300Z'),
    });
    expect(logger.entries.filter((e) => e.level === 'error').map((e) => e.msg)).toEqual([
      'store DEGRADED: log lines: database or disk is full. Writes are retried; no new run is admitted until they succeed; running runs go on',
    ]);

    write.healed = true;
    vi.advanceTimersByTime(400);
    expect(health.report()).toEqual({ status: 'OK', error: null, since: null });
    expect(health.isFailing('log lines')).toBe(false);
    expect(logger.entries.at(-1)).toMatchObject({ level: 'info', msg: 'store OK again: every failed write has been written' });
    // Nothing is retried any more.
    vi.advanceTimersByTime(60_000);
    expect(write.calls).toHaveLength(3);
  });

  it('emits each change of status once, DEGRADED then OK, with the report as of then', () => {
    const health = new StoreHealth({ logger: createTestLogger() });
    const statuses: string[] = [];
    health.events.on('status', (report) => statuses.push(report.error === null ? report.status : `${report.status} (${report.error})`));
    const write = flakyWrite();
    health.failed('log lines', new Error('database or disk is full'), write.retry);
    vi.advanceTimersByTime(100 + 200 + 400);
    expect(write.calls).toHaveLength(3);
    expect(statuses).toEqual(['DEGRADED (log lines: database or disk is full)']);
    write.healed = true;
    vi.advanceTimersByTime(800);
    vi.advanceTimersByTime(60_000);
    expect(statuses).toEqual(['DEGRADED (log lines: database or disk is full)', 'OK']);
  });

  it('doubles the delay between retries up to 5 s, and starts from 0.1 s again after a recovery', () => {
    const health = new StoreHealth({ logger: createTestLogger() });
    const write = flakyWrite();
    health.failed('samples', new Error('disk I/O error'), write.retry);
    vi.advanceTimersByTime(60_000);
    const gaps = write.calls.map((at, i) => at - (write.calls[i - 1] ?? 0));
    expect(gaps.slice(0, 8)).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    expect(new Set(gaps.slice(6))).toEqual(new Set([5000]));

    write.healed = true;
    vi.advanceTimersByTime(5000);
    expect(health.report().status).toBe('OK');
    const again = flakyWrite();
    health.failed('samples', new Error('disk I/O error'), again.retry);
    vi.advanceTimersByTime(100);
    expect(again.calls).toEqual([100]);
  });

  it('names every kind of write that fails, and stays DEGRADED until each is written', () => {
    const health = new StoreHealth({ logger: createTestLogger(), reportAfterFailures: 1 });
    const logs = flakyWrite();
    const runs = flakyWrite();
    health.failed('log lines', new Error('database or disk is full'), logs.retry);
    health.failed('run changes', new Error('database or disk is full'), runs.retry);
    expect(health.report().error).toBe('log lines: database or disk is full; run changes: database or disk is full');
    logs.healed = true;
    vi.advanceTimersByTime(100);
    expect(health.report()).toMatchObject({ status: 'DEGRADED', error: 'run changes: database or disk is full' });
    runs.healed = true;
    vi.advanceTimersByTime(200);
    expect(health.report().status).toBe('OK');
  });

  it('counts what was dropped meanwhile and says so once the store writes again', () => {
    const logger = createTestLogger();
    const health = new StoreHealth({ logger });
    const write = flakyWrite();
    health.failed('samples', new Error('database or disk is full'), write.retry);
    for (let i = 0; i < 3; i += 1) health.dropped('samples');
    write.healed = true;
    vi.advanceTimersByTime(100);
    expect(logger.entries.at(-1)).toMatchObject({
      level: 'warn',
      fields: { dropped: { samples: 3 } },
      msg: 'store: items were dropped while writes failed, because too many waited',
    });
  });

  it('retries nothing once disposed, and retryNow tries once more at once', () => {
    const health = new StoreHealth({ logger: createTestLogger() });
    const write = flakyWrite();
    health.failed('log lines', new Error('database or disk is full'), write.retry);
    health.retryNow();
    expect(write.calls).toEqual([0]);
    health[Symbol.dispose]();
    vi.advanceTimersByTime(60_000);
    expect(write.calls).toEqual([0]);
  });
});

describe('StoreHealth with asynchronous retries (PostgreSQL)', () => {
  it('counts a retry when its promise settles, never starts it again while it runs, and is OK once one resolves', async () => {
    const health = new StoreHealth({ logger: createTestLogger(), reportAfterFailures: 2 });
    let healed = false;
    let running = 0;
    let most = 0;
    const calls: number[] = [];
    const start = Date.now();
    // Each attempt takes 1 s, longer than the first retry delays: the timer fires while it runs.
    const retry = async () => {
      calls.push(Date.now() - start);
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      running -= 1;
      if (!healed) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    };
    health.failed('log lines', new Error('connect ECONNREFUSED 127.0.0.1:5432'), retry);
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toEqual([100]);
    expect(health.report().status).toBe('OK');
    await vi.advanceTimersByTimeAsync(1_000);
    // The first retry failed (2 failures): DEGRADED, with its error.
    expect(health.report()).toMatchObject({ status: 'DEGRADED', error: 'log lines: connect ECONNREFUSED 127.0.0.1:5432' });
    healed = true;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(health.report().status).toBe('OK');
    expect(health.isFailing('log lines')).toBe(false);
    expect(most).toBe(1);
    expect(calls.length).toBe(2);
  });
});
