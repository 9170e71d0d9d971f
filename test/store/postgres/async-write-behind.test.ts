/**
 * AsyncWriteBehind, the buffer of the PostgreSQL stores: batches written one at a time and in
 * order, items readable until their batch commits, a newer snapshot written after the one in
 * flight, and failed batches kept and retried through the store's health.
 */
import { describe, expect, it } from 'vitest';
import { AsyncWriteBehind } from '../../../src/store/postgres/async-write-behind.js';
import { StoreHealth } from '../../../src/store/store-health.js';
import { createTestLogger } from '../../helpers/test-logger.js';

/** A destination whose writes take a few milliseconds, and fail while `failing` is set. */
function destination() {
  const state = {
    written: [] as string[][],
    inFlight: 0,
    mostInFlight: 0,
    failing: false,
    write: async (batch: readonly string[]) => {
      state.inFlight += 1;
      state.mostInFlight = Math.max(state.mostInFlight, state.inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      state.inFlight -= 1;
      if (state.failing) throw new Error('connection terminated');
      state.written.push([...batch]);
    },
  };
  return state;
}

function health() {
  return new StoreHealth({ logger: createTestLogger(), minRetryDelayMs: 10, maxRetryDelayMs: 20 });
}

describe('AsyncWriteBehind', () => {
  it('writes batches one at a time, in order, and keeps each item readable until its batch is written', async () => {
    const dest = destination();
    const buffer = new AsyncWriteBehind<string>({ what: 'lines', write: dest.write, batchSize: 3, maxPending: 100, health: health() });
    for (let i = 1; i <= 7; i += 1) buffer.push(`l${i}`);
    expect(buffer.waiting()).toEqual(['l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7']);
    expect(await buffer.flush()).toBe(true);
    expect(buffer.size).toBe(0);
    expect(dest.written.flat()).toEqual(['l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7']);
    expect(dest.written.every((batch) => batch.length <= 3)).toBe(true);
    expect(dest.mostInFlight).toBe(1);
  });

  it('writes a newer snapshot of a record after the one being written, and reads the newest meanwhile', async () => {
    const dest = destination();
    const buffer = new AsyncWriteBehind<string>({
      what: 'runs',
      write: dest.write,
      batchSize: 10,
      maxPending: Number.POSITIVE_INFINITY,
      keyOf: (item) => item.split(':')[0]!,
      health: health(),
    });
    buffer.writeSoon('r1:QUEUED');
    // The first write is in flight: a newer snapshot replaces the waiting one, not the written one.
    await new Promise((resolve) => setImmediate(resolve));
    buffer.writeSoon('r1:RUNNING');
    expect(buffer.get('r1')).toBe('r1:RUNNING');
    expect(await buffer.flush()).toBe(true);
    expect(dest.written).toEqual([['r1:QUEUED'], ['r1:RUNNING']]);
    expect(buffer.get('r1')).toBeUndefined();
  });

  it('keeps a failed batch and what follows, refuses items past its bound, and writes them all once the retry succeeds', async () => {
    const dest = destination();
    const storeHealth = health();
    const buffer = new AsyncWriteBehind<string>({ what: 'lines', write: dest.write, batchSize: 2, maxPending: 4, health: storeHealth });
    dest.failing = true;
    buffer.push('a');
    buffer.push('b');
    expect(await buffer.flush()).toBe(false);
    expect(storeHealth.isFailing('lines')).toBe(true);
    expect(buffer.push('c')).toBe(true);
    expect(buffer.push('d')).toBe(true);
    expect(buffer.push('e')).toBe(false);
    expect(await buffer.flush()).toBe(false);
    expect(buffer.waiting()).toEqual(['a', 'b', 'c', 'd']);
    dest.failing = false;
    for (let i = 0; i < 100 && storeHealth.isFailing('lines'); i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(storeHealth.isFailing('lines')).toBe(false);
    expect(dest.written.flat()).toEqual(['a', 'b', 'c', 'd']);
    // Written again as usual afterwards.
    buffer.push('f');
    expect(await buffer.flush()).toBe(true);
    expect(dest.written.flat()).toEqual(['a', 'b', 'c', 'd', 'f']);
    expect(dest.mostInFlight).toBe(1);
  });
});
