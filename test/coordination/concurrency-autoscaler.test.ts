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
    setMaxConcurrency(value: number) {
      this.limit = value;
      this.changes.push(value);
    },
  };
  let recommended = options.recommended ?? 4;
  const advised: HealthReport[] = [];
  const advise = (report: HealthReport): ConcurrencyAdvice => {
    advised.push(report);
    return { current: queue.limit, recommended, canIncrease: recommended > queue.limit, reason: `Headroom → ${recommended}.` };
  };
  const logger = { info: vi.fn(), warn: vi.fn() };
  const autoscaler = new ConcurrencyAutoscaler({ monitorEvents: events, advise, queue, max: options.max ?? 4, logger });
  const adjusted: MonitorEvents['concurrency-adjusted'][0][] = [];
  events.on('concurrency-adjusted', (event) => adjusted.push(event));
  const check = () => events.emit('health-check', makeReport());
  return { events, queue, autoscaler, adjusted, advised, logger, check, recommend: (n: number) => (recommended = n) };
}

describe('ConcurrencyAutoscaler', () => {
  it('moves the limit one step per health check toward the advice, never above the maximum', () => {
    const { queue, adjusted, check, logger } = setup({ current: 1, recommended: 4, max: 3 });
    for (let n = 0; n < 4; n += 1) check();
    expect(queue.changes).toEqual([2, 3]);
    expect(adjusted).toEqual([
      { from: 1, to: 2, reason: 'Headroom → 4.' },
      { from: 2, to: 3, reason: 'Headroom → 4.' },
    ]);
    expect(logger.info).toHaveBeenCalledWith({ from: 1, to: 2, reason: 'Headroom → 4.', target: 3 }, 'concurrency 1 → 2');
  });

  it('comes back down one step at a time when the advice drops', () => {
    const { queue, check, recommend, adjusted } = setup({ current: 3, recommended: 1 });
    check();
    recommend(1);
    check();
    check();
    expect(queue.changes).toEqual([2, 1]);
    expect(adjusted.map((e) => [e.from, e.to])).toEqual([
      [3, 2],
      [2, 1],
    ]);
  });

  it('advises from the report of the health check it follows', () => {
    const { events, advised } = setup();
    const report = makeReport();
    events.emit('health-check', report);
    expect(advised).toEqual([report]);
  });

  it('leaves an unlimited queue alone', () => {
    const { queue, check } = setup({ current: 0, recommended: 2 });
    check();
    expect(queue.changes).toEqual([]);
  });

  it('an advice that fails skips the step with a warning', () => {
    const events = new EventEmitter<MonitorEvents>();
    const queue = { setMaxConcurrency: vi.fn() };
    const logger = { info: vi.fn(), warn: vi.fn() };
    new ConcurrencyAutoscaler({
      monitorEvents: events,
      advise: () => {
        throw new Error('database is locked');
      },
      queue,
      max: 4,
      logger,
    });
    events.emit('health-check', makeReport());
    expect(queue.setMaxConcurrency).not.toHaveBeenCalled();
    expect(logger.warn).toHaveBeenCalledWith({ error: 'database is locked' }, 'autoscaling skipped: no concurrency advice');
  });

  it('stops following health checks once disposed', () => {
    const { events, autoscaler, queue, check } = setup({ current: 1, recommended: 4 });
    autoscaler[Symbol.dispose]();
    check();
    expect(queue.changes).toEqual([]);
    expect(events.listenerCount('health-check')).toBe(0);
  });

  it('validates its maximum eagerly', () => {
    expect(() => setup({ max: 5 })).toThrow('Expected concurrencyAutoscaleMax to be an integer from 1 to 4, got 5');
    expect(() => setup({ max: 0 })).toThrow('Expected concurrencyAutoscaleMax to be an integer from 1 to 4, got 0');
  });
});
