import PQueue from 'p-queue';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WaitingLine, type LineEntry, type LineOptions } from '../../src/queue/waiting-line.js';

const run = () => Promise.resolve();

function entry(id: string, deadline = 60_000): LineEntry {
  return { id, deadline };
}

function lineOf(ids: readonly string[], onTimeout: (entry: LineEntry) => void = () => {}) {
  const line = new WaitingLine<LineEntry>({ now: () => Date.now(), onTimeout });
  const entries = new Map(ids.map((id) => [id, entry(id, Date.now() + 60_000)]));
  for (const item of entries.values()) line.enqueue(run, { entry: item });
  return { line, entries };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('WaitingLine', () => {
  it('keeps order and positions when entries leave from the front, the middle and the back', () => {
    vi.useFakeTimers();
    const { line, entries } = lineOf(['a', 'b', 'c', 'd', 'e']);
    expect(line.position('c')).toBe(3);
    expect(line.takeOut(entries.get('a')!)).toBe(0);
    expect(line.position('c')).toBe(2);
    expect(line.takeOut(entries.get('c')!)).toBe(1);
    expect(line.takeOut(entries.get('e')!)).toBe(2);
    expect(line.from(1).map((item) => item.id)).toEqual(['d']);
    expect(line.takeOut(entries.get('c')!)).toBe(-1);
    expect(line.takeOut(entry('zz'))).toBe(-1);
    expect(line.position('zz')).toBe(0);
    expect(line.ids()).toEqual(['b', 'd']);
    expect([line.position('b'), line.position('d')]).toEqual([1, 2]);
    expect(line.length).toBe(2);
    expect(line.size).toBe(2);
    // Same deadline, one timer.
    expect(vi.getTimerCount()).toBe(1);
    expect(line.clear().map((item) => item.id)).toEqual(['b', 'd']);
    expect(line.length).toBe(0);
    expect(line.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('takes out only the entry it was given, not a newer one with the same id', () => {
    const { line, entries } = lineOf(['a']);
    line.takeOut(entries.get('a')!);
    const again = entry('a', Date.now() + 60_000);
    line.enqueue(run, { entry: again });
    expect(line.takeOut(entries.get('a')!)).toBe(-1);
    expect(line.position('a')).toBe(1);
    expect(line.takeOut(again)).toBe(0);
    line.clear();
  });

  it('hands p-queue the first startable entry, skipping held and taken ones, which keep their place', () => {
    const line = new WaitingLine<LineEntry>({ now: () => Date.now(), onTimeout: () => {} });
    const runs = { b: () => Promise.resolve('b'), c: () => Promise.resolve('c') };
    line.hold(entry('held', Date.now() + 60_000));
    line.enqueue(runs.b, { entry: entry('b', Date.now() + 60_000) });
    line.enqueue(runs.c, { entry: entry('c', Date.now() + 60_000) });
    expect([line.size, line.length]).toEqual([2, 3]);
    expect(line.filter({ priority: 0 })).toEqual([runs.b, runs.c]);
    expect(line.filter({ priority: 1 })).toEqual([]);

    expect(line.dequeue()).toBe(runs.b);
    expect([line.size, line.length, line.position('b')]).toEqual([1, 3, 2]);
    expect(line.dequeue()).toBe(runs.c);
    expect(line.dequeue()).toBeUndefined();
    expect(line.ids()).toEqual(['held', 'b', 'c']);
    line.clear();
  });

  it('calls onTimeout at each entry’s own deadline and keeps the entry until it is taken out', async () => {
    vi.useFakeTimers();
    const timedOut: string[] = [];
    const line = new WaitingLine<LineEntry>({ now: () => Date.now(), onTimeout: (item) => timedOut.push(item.id) });
    const now = Date.now();
    line.enqueue(run, { entry: entry('late', now + 1_000) });
    line.enqueue(run, { entry: entry('early', now + 500) });
    line.hold(entry('expired', now - 1));
    await vi.advanceTimersByTimeAsync(0);
    expect(timedOut).toEqual(['expired']);
    await vi.advanceTimersByTimeAsync(500);
    expect(timedOut).toEqual(['expired', 'early']);
    expect(line.length).toBe(3);
    line.takeOut(line.get('late')!);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(timedOut).toEqual(['expired', 'early']);
    line.clear();
  });

  it('stays correct across compactions of a long line', () => {
    vi.useFakeTimers();
    const ids = Array.from({ length: 5000 }, (_, i) => `r${i}`);
    const { line, entries } = lineOf(ids);
    for (let i = 0; i < 3000; i += 1) expect(line.takeOut(entries.get(`r${i}`)!)).toBe(0);
    expect(line.length).toBe(2000);
    expect(line.position('r3000')).toBe(1);
    expect(line.position('r4999')).toBe(2000);
    expect(line.takeOut(entries.get('r4000')!)).toBe(1000);
    expect(line.position('r4001')).toBe(1001);
    expect(line.from(999).map((item) => item.id)).toEqual(['r3999', 'r4001'].concat(Array.from({ length: 998 }, (_, i) => `r${4002 + i}`)));
    line.clear();
  });

  it('is the queue of a p-queue given asQueueClass(), which starts its entries first in, first out', async () => {
    const line = new WaitingLine<LineEntry>({ now: () => Date.now(), onTimeout: () => {} });
    const queue = new PQueue<WaitingLine<LineEntry>, LineOptions<LineEntry>>({ concurrency: 1, autoStart: false, queueClass: line.asQueueClass() });
    const order: string[] = [];
    for (const id of ['a', 'b', 'c']) {
      const item = entry(id, Date.now() + 60_000);
      void queue.add(
        () => {
          line.takeOut(item);
          order.push(id);
          return Promise.resolve();
        },
        // As the owner adds them: p-queue 10 looks a task up by this id before asking the line.
        { id, entry: item },
      );
    }
    expect([queue.size, line.ids()]).toEqual([3, ['a', 'b', 'c']]);
    expect(() => queue.setPriority('b', 1)).toThrow('first in, first out');
    queue.start();
    await queue.onIdle();
    expect(order).toEqual(['a', 'b', 'c']);
    expect(line.length).toBe(0);
  });

  it("lets p-queue take out a waiting task whose add() signal aborted (p-queue 10's remove)", async () => {
    const line = new WaitingLine<LineEntry>({ now: () => Date.now(), onTimeout: () => {} });
    const queue = new PQueue<WaitingLine<LineEntry>, LineOptions<LineEntry>>({ concurrency: 1, autoStart: false, queueClass: line.asQueueClass() });
    const controller = new AbortController();
    const added = ['a', 'b'].map((id) => {
      const item = entry(id, Date.now() + 60_000);
      return queue.add(() => void line.takeOut(item), { id, entry: item, ...(id === 'b' ? { signal: controller.signal } : {}) });
    });
    controller.abort(new Error('no longer wanted'));
    await expect(added[1]).rejects.toThrow('no longer wanted');
    expect([queue.size, line.ids()]).toEqual([1, ['a']]);
    queue.start();
    await added[0];
    expect(line.length).toBe(0);
  });

  it('refuses an entry already in line and an add() without an entry', () => {
    const { line } = lineOf(['a']);
    expect(() => line.hold(entry('a'))).toThrow('already in line');
    expect(() => line.enqueue(run)).toThrow('needs options.entry');
    line.clear();
  });
});
