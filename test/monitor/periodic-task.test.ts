import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PeriodicTask } from '../../src/monitor/periodic-task.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A task whose runs the test ends one by one. */
function controllableTask() {
  const runs: { signal: AbortSignal; finish: () => void; fail: (error: Error) => void }[] = [];
  const task = (signal: AbortSignal) => new Promise<void>((resolve, reject) => runs.push({ signal, finish: resolve, fail: reject }));
  return { runs, task };
}

describe('PeriodicTask', () => {
  it('runs now and at every interval', async () => {
    let count = 0;
    const periodic = new PeriodicTask(
      () => Promise.resolve((count += 1)),
      () => undefined,
    );
    periodic.start(100);
    expect(count).toBe(1);
    await vi.advanceTimersByTimeAsync(350);
    expect(count).toBe(4);
    periodic.stop();
    await vi.advanceTimersByTimeAsync(500);
    expect(count).toBe(4);
  });

  it('skips a tick while the previous run is still going', async () => {
    const { runs, task } = controllableTask();
    const periodic = new PeriodicTask(task, () => undefined);
    periodic.start(100);
    await vi.advanceTimersByTimeAsync(450);
    expect(runs).toHaveLength(1);
    runs[0]!.finish();
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toHaveLength(2);
    periodic.stop();
  });

  it('stop() aborts the run in flight; settled() waits for it', async () => {
    const { runs, task } = controllableTask();
    const onError = vi.fn();
    const periodic = new PeriodicTask(task, onError);
    periodic.start(100);
    periodic.stop();
    expect(runs[0]!.signal.aborted).toBe(true);
    let settled = false;
    void periodic.settled().then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    runs[0]!.fail(new Error('aborted'));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(true);
    // A failure caused by stopping is not reported.
    expect(onError).not.toHaveBeenCalled();
  });

  it('reports a failed run and keeps the schedule', async () => {
    const { runs, task } = controllableTask();
    const onError = vi.fn();
    const periodic = new PeriodicTask(task, onError);
    periodic.start(100);
    runs[0]!.fail(new Error('engine gone'));
    await vi.advanceTimersByTimeAsync(100);
    expect(onError).toHaveBeenCalledWith(new Error('engine gone'));
    expect(runs).toHaveLength(2);
    periodic.stop();
  });

  it('a second start() replaces the schedule', async () => {
    let count = 0;
    const periodic = new PeriodicTask(
      () => Promise.resolve((count += 1)),
      () => undefined,
    );
    periodic.start(100);
    await vi.advanceTimersByTimeAsync(0);
    periodic.start(1_000);
    await vi.advanceTimersByTimeAsync(950);
    expect(count).toBe(2);
    periodic.stop();
  });

  it('validates the interval', () => {
    const periodic = new PeriodicTask(
      () => Promise.resolve(),
      () => undefined,
    );
    expect(() => periodic.start(0)).toThrow('Expected intervalMs to be an integer of at least 1, got 0');
  });
});
