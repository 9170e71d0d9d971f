import { describe, expect, it } from 'vitest';
import { PendingItems } from '../../../src/store/shared/pending-writes.js';

interface Snapshot {
  readonly id: string;
  readonly v: number;
}

describe('PendingItems', () => {
  it('refuses items past maxPending by weight, except one added even if full, and always keeps one', () => {
    const pending = new PendingItems<string>({ maxPending: 10, weightOf: (item) => item.length, replaced: 'inPlace' });
    expect(pending.add('a'.repeat(20), false)).toBe(true);
    expect(pending.add('b', false)).toBe(false);
    expect(pending.add('notice', true)).toBe(true);
    expect(pending.waiting()).toEqual(['a'.repeat(20), 'notice']);
    expect(pending.weight).toBe(26);
  });

  it('takes the oldest items as a batch, bounded by count and by weight but never empty, and forgets them once written', () => {
    const pending = new PendingItems<string>({ maxPending: 100, weightOf: (item) => item.length, replaced: 'inPlace' });
    for (const item of ['aaaaaa', 'bb', 'cc', 'dd', 'e']) pending.add(item, false);
    expect(pending.oldest(10, 4).map(([, item]) => item)).toEqual(['aaaaaa']);
    const batch = pending.oldest(3);
    expect(batch.map(([, item]) => item)).toEqual(['aaaaaa', 'bb', 'cc']);
    pending.written(batch);
    expect(pending.waiting()).toEqual(['dd', 'e']);
    expect(pending.weight).toBe(3);
    expect(pending.oldest(10, 3).map(([, item]) => item)).toEqual(['dd', 'e']);
  });

  it('keeps the newest item per key, in the place of the first or at the end, and keeps one replaced while its batch was written', () => {
    const keyOf = (item: Snapshot) => item.id;
    const inPlace = new PendingItems<Snapshot>({ maxPending: 10, keyOf, replaced: 'inPlace' });
    const atEnd = new PendingItems<Snapshot>({ maxPending: 10, keyOf, replaced: 'atEnd' });
    for (const pending of [inPlace, atEnd])
      for (const item of [
        { id: 'a', v: 1 },
        { id: 'b', v: 1 },
        { id: 'a', v: 2 },
      ])
        pending.add(item, false);
    expect(inPlace.waiting()).toEqual([
      { id: 'a', v: 2 },
      { id: 'b', v: 1 },
    ]);
    expect(atEnd.waiting()).toEqual([
      { id: 'b', v: 1 },
      { id: 'a', v: 2 },
    ]);
    expect(atEnd.get('a')).toEqual({ id: 'a', v: 2 });
    expect(atEnd.weight).toBe(2);

    const batch = atEnd.oldest(10);
    atEnd.add({ id: 'b', v: 2 }, false);
    atEnd.written(batch);
    expect(atEnd.waiting()).toEqual([{ id: 'b', v: 2 }]);
    expect(atEnd.weight).toBe(1);
  });

  it('tells whether items that waited at some moment still wait', () => {
    const unkeyed = new PendingItems<number>({ maxPending: 10, replaced: 'atEnd' });
    unkeyed.add(1, false);
    unkeyed.add(2, false);
    const before = unkeyed.nextNumber;
    unkeyed.add(3, false);
    expect(unkeyed.owes(new Set(), before)).toBe(true);
    unkeyed.written(unkeyed.oldest(2));
    expect(unkeyed.owes(new Set(), before)).toBe(false);

    const keyed = new PendingItems<Snapshot>({ maxPending: 10, keyOf: (item) => item.id, replaced: 'atEnd' });
    keyed.add({ id: 'a', v: 1 }, false);
    const keys = keyed.keys();
    keyed.add({ id: 'b', v: 1 }, false);
    keyed.written(keyed.oldest(1));
    expect(keyed.owes(keys, keyed.nextNumber)).toBe(false);
    keyed.add({ id: 'a', v: 2 }, false);
    expect(keyed.owes(keys, keyed.nextNumber)).toBe(true);
  });
});
