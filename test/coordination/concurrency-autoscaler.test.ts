import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { ConcurrencyAutoscaler } from '../../src/coordination/concurrency-autoscaler.js';
import type { MonitorEvents } from '../../src/monitor/monitor-service.js';
import type { ConcurrencyAdvice, HealthReport } from '../../src/monitor/monitor-types.js';
import { makeReport } from '../helpers/fixtures.js';

/** A queue whose limit the autoscaler sets, and an advice that recommends a fixed number against it. */
function setup(options: { current?: number; recommended?: number; max?: number } = {}) {
  const events = new EventEmitter<MonitorEvents>();
  const queue = {
    limit: options.current ?? 1,
    changes: [] as number[],
    /** Set to make the next change fail (as a shared queue that cannot be reached). */
    failure: null as Error | null,
    setMaxConcurrency(value: number): Promise<void> {
      if (this.failure) return Promise.reject(this.failure);
      this.limit = value;
      this.changes.push(value);
      return Promise.resolve();
    },
  };
  let recommended = options.recommended ?? 4;
  const advised: HealthReport[] = [];
  const advise = (report: HealthReport): Promise<ConcurrencyAdvice> => {
    advised.push(report);
    return Promise.resolve({ current: queue.limit, recommended, canIncrease: recommended > queue.limit, reason: `Headroom → ${recommended}.` });
  };
  const logger = { info: vi.fn(), warn: vi.fn() };
  const autoscaler = new ConcurrencyAutoscaler({ monitorEvents: events, advise, queue, max: options.max ?? 4, logger });
  const adjusted: MonitorEvents['concurrency-adjusted'][0][] = [];
  events.on('concurrency-adjusted', (event) => adjusted.push(event));
  /** Emits a health check and waits until the autoscaler's step for it is done. */
  const check = async () => {
    events.emit('health-check', makeReport());
    await autoscaler.settled();
  };
  return { events, queue, autoscaler, adjusted, advised, logger, check, recommend: (n: number) => (recommended = n) };
}

describe('ConcurrencyAutoscaler', () => {
  it('moves the limit one step per health check toward the advice, never above the maximum', async () => {
    const { queue, adjusted, check, logger } = setup({ current: 1, recommended: 4, max: 3 });
    for (let n = 0; n < 4; n += 1) await check();
    expect(queue.changes).toEqual([2, 3]);
    expect(adjusted).toEqual([
      { from: 1, to: 2, reason: 'Headroom → 4.' },
      { from: 2, to: 3, reason: 'Headroom → 4.' },
    ]);
    expect(logger.info).toHaveBeenCalledWith({ from: 1, to: 2, reason: 'Headroom → 4.', target: 3 }, 'concurrency 1 → 2');
  });

  it('comes back down one step at a time when the advice drops', async () => {
    const { queue, check, recommend, adjusted } = setup({ current: 3, recommended: 1 });
    await check();
    recommend(1);
    await check();
    await check();
    expect(queue.changes).toEqual([2, 1]);
    expect(adjusted.map((e) => [e.from, e.to])).toEqual([
      [3, 2],
      [2, 1],
    ]);
  });

  it('advises from the report of the health check it follows', async () => {
    const { events, advised, autoscaler } = setup();
    const report = makeReport();
    events.emit('health-check', report);
    await autoscaler.settled();
    expect(advised).toEqual([report]);
  });

  it('leaves an unlimited queue alone', async () => {
    const { queue, check } = setup({ current: 0, recommended: 2 });
    await check();
    expect(queue.changes).toEqual([]);
  });

  it('an advice that fails skips the step with a warning', async () => {
    const events = new EventEmitter<MonitorEvents>();
    const queue = { setMaxConcurrency: vi.fn() };
    const logger = { info: vi.fn(), warn: vi.fn() };
    const autoscaler = new ConcurrencyAutoscaler({
      monitorEvents: events,
      advise: () => {
        throw new Error('database is locked');
      },
      queue,
      max: 4,
      logger,
    });
    events.emit('health-check', makeReport());
    await autoscaler.settled();
    expect(queue.setMaxConcurrency).not.toHaveBeenCalled();
    expect(logger.warn).toHaveBeenCalledWith({ error: 'database is locked' }, 'autoscaling skipped: no concurrency advice');
  });

  it('stops following health checks once disposed', async () => {
    const { events, autoscaler, queue, check } = setup({ current: 1, recommended: 4 });
    autoscaler[Symbol.dispose]();
    await check();
    expect(queue.changes).toEqual([]);
    expect(events.listenerCount('health-check')).toBe(0);
  });

  it('steps one health check at a time, each from the limit the previous one set, and logs a change the queue refuses', async () => {
    const { events, queue, autoscaler, adjusted, logger } = setup({ current: 1, recommended: 4 });
    // Two checks before either step is done: the second starts from the limit the first set.
    events.emit('health-check', makeReport());
    events.emit('health-check', makeReport());
    await autoscaler.settled();
    expect(queue.changes).toEqual([2, 3]);
    queue.failure = new Error('the queue is unreachable');
    events.emit('health-check', makeReport());
    await autoscaler.settled();
    expect(queue.changes).toEqual([2, 3]);
    expect(adjusted.map((event) => event.to)).toEqual([2, 3]);
    expect(logger.warn).toHaveBeenCalledWith(
      { error: 'the queue is unreachable', from: 3, to: 4 },
      'autoscaling could not change the concurrency limit',
    );
  });

  it('validates its maximum eagerly', () => {
    expect(() => setup({ max: 5 })).toThrow('Expected concurrencyAutoscaleMax to be an integer from 1 to 4, got 5');
    expect(() => setup({ max: 0 })).toThrow('Expected concurrencyAutoscaleMax to be an integer from 1 to 4, got 0');
  });
});
