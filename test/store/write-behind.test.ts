/**
 * WriteBehind: batches, and a batch that fails to write is kept in order, reported, retried by
 * the store's health and written once a retry succeeds; meanwhile it waits within its bound and
 * throws nothing into the event loop.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StoreHealth } from '../../src/store/store-health.js';
import { WriteBehind, type WriteBehindOptions } from '../../src/store/write-behind.js';
import { createTestLogger } from '../helpers/test-logger.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function setup<T>(options: Partial<WriteBehindOptions<T>> = {}) {
  const written: T[][] = [];
  const state = { failing: false };
  const health = new StoreHealth({ logger: createTestLogger() });
  const writes = new WriteBehind<T>({
    what: 'items',
    batchSize: 3,
    maxPending: 100,
    health,
    write: (batch) => {
      if (state.failing) throw new Error('database or disk is full');
      written.push([...batch]);
    },
    ...options,
  });
  return { writes, written, state, health };
}

describe('WriteBehind', () => {
  it('writes a full batch at once and the rest on the next turn of the event loop', () => {
    const { writes, written } = setup<number>();
    for (const n of [1, 2, 3, 4]) writes.push(n);
    expect(written).toEqual([[1, 2, 3]]);
    vi.advanceTimersByTime(0);
    expect(written).toEqual([[1, 2, 3], [4]]);
  });

  it('keeps a batch that failed, in order with what comes after it, and writes all once a retry succeeds (the rest of the backlog a turn later)', () => {
    const { writes, written, state, health } = setup<number>();
    state.failing = true;
    writes.push(1);
    // The scheduled flush fails: nothing is thrown into the event loop.
    expect(() => vi.advanceTimersByTime(0)).not.toThrow();
    expect(health.isFailing('items')).toBe(true);
    for (const n of [2, 3, 4, 5]) writes.push(n);
    // A reader's flush leaves the writing to the retry.
    expect(writes.flush()).toBe(false);
    expect(writes.waiting()).toEqual([1, 2, 3, 4, 5]);
    vi.advanceTimersByTime(300);
    expect(health.report().status).toBe('DEGRADED');
    expect(written).toEqual([]);

    state.failing = false;
    vi.advanceTimersByTime(400);
    // The retry writes the oldest batch; the backlog behind it follows on the next turn.
    expect(written).toEqual([[1, 2, 3]]);
    expect(health.report().status).toBe('OK');
    vi.advanceTimersToNextTimer();
    expect(written).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    expect(writes.size).toBe(0);
    expect(health.report().status).toBe('OK');
    expect(writes.flush()).toBe(true);
  });

  it('bounds a batch by weight too, and writes a backlog a slice per turn', () => {
    const { writes, written, state } = setup<string>({ batchSize: 100, batchWeight: 6, weightOf: (item) => item.length });
    // A push writes one batch when its weight waits: the item past the bound waits.
    for (const item of ['aa', 'bb', 'cccc']) writes.push(item);
    expect(written).toEqual([['aa', 'bb']]);
    vi.advanceTimersByTime(0);
    expect(written).toEqual([['aa', 'bb'], ['cccc']]);
    // One heavier than the bound still goes, alone.
    writes.push('dddddddd');
    expect(written.at(-1)).toEqual(['dddddddd']);

    // A backlog (here: waiting behind a failed write) is written in batches of the bound.
    state.failing = true;
    writes.push('e');
    vi.advanceTimersByTime(0);
    for (const item of ['ff', 'gggg', 'h']) writes.push(item);
    state.failing = false;
    vi.advanceTimersByTime(1_000);
    expect(written.slice(3)).toEqual([
      ['e', 'ff'],
      ['gggg', 'h'],
    ]);
    expect(writes.size).toBe(0);
  });

  it('refuses items past maxPending (by weight), except one pushed even if full', () => {
    const { writes, state } = setup<string>({ maxPending: 10, weightOf: (item) => item.length });
    state.failing = true;
    expect(writes.push('aaaa')).toBe(true);
    vi.advanceTimersByTime(0);
    expect(writes.push('bbbb')).toBe(true);
    expect(writes.push('ccc')).toBe(false);
    expect(writes.push('cc')).toBe(true);
    expect(writes.push('d')).toBe(false);
    expect(writes.push('notice', true)).toBe(true);
    expect(writes.waiting()).toEqual(['aaaa', 'bbbb', 'cc', 'notice']);
  });

  it('keeps only the newest item per key, in the place of the first', () => {
    const { writes, written, state } = setup<{ id: string; v: number }>({ keyOf: (item) => item.id });
    state.failing = true;
    expect(writes.writeNow({ id: 'a', v: 1 })).toBe(false);
    writes.writeNow({ id: 'b', v: 1 });
    writes.writeNow({ id: 'a', v: 2 });
    expect(writes.get('a')).toEqual({ id: 'a', v: 2 });
    expect(writes.waiting()).toEqual([
      { id: 'a', v: 2 },
      { id: 'b', v: 1 },
    ]);
    state.failing = false;
    vi.advanceTimersByTime(100);
    expect(written).toEqual([
      [
        { id: 'a', v: 2 },
        { id: 'b', v: 1 },
      ],
    ]);
    expect(writes.get('a')).toBeUndefined();
  });

  it('does nothing once its destination is closed', () => {
    let open = true;
    const { writes, written } = setup<number>({ isOpen: () => open });
    writes.push(1);
    open = false;
    vi.advanceTimersByTime(0);
    expect(written).toEqual([]);
    expect(writes.waiting()).toEqual([1]);
  });
});
