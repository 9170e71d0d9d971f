import { describe, expect, it } from 'vitest';
import { RingBuffer } from '../../src/monitor/ring-buffer.js';

describe('RingBuffer', () => {
  it('drops the oldest when full and keeps order', () => {
    const ring = new RingBuffer<number>(3);
    expect(ring.push(1)).toBeUndefined();
    ring.push(2);
    ring.push(3);
    expect(ring.push(4)).toBe(1);
    expect(ring.toArray()).toEqual([2, 3, 4]);
    expect(ring.oldest()).toBe(2);
    expect(ring.newest()).toBe(4);
    expect(ring.toArray(2)).toEqual([3, 4]);
    expect(ring.toArray(0)).toEqual([]);
  });

  it('shifts from the front across the wrap', () => {
    const ring = new RingBuffer<number>(2);
    for (const n of [1, 2, 3]) ring.push(n);
    expect(ring.shift()).toBe(2);
    ring.push(4);
    expect(ring.toArray()).toEqual([3, 4]);
    expect(ring.shift()).toBe(3);
    expect(ring.shift()).toBe(4);
    expect(ring.shift()).toBeUndefined();
    expect(ring.size).toBe(0);
    expect(ring.newest()).toBeUndefined();
  });

  it('refuses a capacity under 1', () => {
    expect(() => new RingBuffer(0)).toThrow('Expected a ring buffer capacity that is an integer of at least 1, got 0');
  });
});
