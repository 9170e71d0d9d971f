import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineTimers } from '../../src/queue/deadline-timers.js';

afterEach(() => {
  vi.useRealTimers();
});

function timers() {
  const due: string[] = [];
  const deadlines = new DeadlineTimers<string>({ now: () => Date.now(), onDue: (item) => due.push(item) });
  return { due, deadlines };
}

describe('DeadlineTimers', () => {
  it('shares one timer per deadline millisecond and fires each item at its own deadline, in any order', async () => {
    vi.useFakeTimers();
    const { due, deadlines } = timers();
    const start = Date.now();
    deadlines.add('a', start + 1_000);
    deadlines.add('b', start + 1_000);
    deadlines.add('early', start + 300);
    deadlines.add('c', start + 1_000);
    expect([deadlines.timerCount, vi.getTimerCount()]).toEqual([2, 2]);

    await vi.advanceTimersByTimeAsync(299);
    expect(due).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(due).toEqual(['early']);
    await vi.advanceTimersByTimeAsync(699);
    expect(due).toEqual(['early']);
    await vi.advanceTimersByTimeAsync(1);
    expect(due).toEqual(['early', 'a', 'b', 'c']);
    expect([deadlines.timerCount, vi.getTimerCount()]).toEqual([0, 0]);
  });

  it('clears a deadline’s timer with its last item, and ignores items it does not hold', async () => {
    vi.useFakeTimers();
    const { due, deadlines } = timers();
    const deadline = Date.now() + 500;
    deadlines.add('a', deadline);
    deadlines.add('b', deadline);
    deadlines.delete('a', deadline);
    deadlines.delete('zz', deadline);
    deadlines.delete('b', deadline + 1);
    expect(vi.getTimerCount()).toBe(1);
    deadlines.delete('b', deadline);
    expect([deadlines.timerCount, vi.getTimerCount()]).toEqual([0, 0]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(due).toEqual([]);
  });

  it('fires a past deadline on the next timer tick, and clear() stops everything', async () => {
    vi.useFakeTimers();
    const { due, deadlines } = timers();
    deadlines.add('past', Date.now() - 5_000);
    deadlines.add('later', Date.now() + 100);
    expect(due).toEqual([]);
    await vi.advanceTimersByTimeAsync(0);
    expect(due).toEqual(['past']);
    deadlines.clear();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(due).toEqual(['past']);
  });

  it('lets onDue delete the items of the deadline that fired, and add new ones', async () => {
    vi.useFakeTimers();
    const due: string[] = [];
    const deadline = Date.now() + 100;
    const deadlines: DeadlineTimers<string> = new DeadlineTimers<string>({
      now: () => Date.now(),
      onDue: (item) => {
        due.push(item);
        deadlines.delete(item, deadline);
        if (item === 'a') deadlines.add('again', deadline);
      },
    });
    deadlines.add('a', deadline);
    deadlines.add('b', deadline);
    await vi.advanceTimersByTimeAsync(100);
    expect(due).toEqual(['a', 'b']);
    // 'again' was added for a deadline that had just passed: it gets a timer of its own, which fires next.
    await vi.advanceTimersByTimeAsync(1);
    expect(due).toEqual(['a', 'b', 'again']);
    expect(vi.getTimerCount()).toBe(0);
  });
});
