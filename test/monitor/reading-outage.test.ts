/**
 * The outage bookkeeping both samplers share; what each logs around it is tested with the sampler
 * (cgroup-file-sampler.test.ts, stats-stream-supervisor.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { ReadingOutage, deliverReading } from '../../src/monitor/reading-outage.js';
import { fakeMonitorLogger } from './fake-monitor-logger.js';
import { stats } from './fixtures.js';

describe('ReadingOutage', () => {
  it('starts at the first failure, counts the failures, and lets the caller warn once per outage', () => {
    const outage = new ReadingOutage();
    expect(outage.broken).toBe(false);
    expect(outage.fail()).toBe(true);
    expect(outage.fail()).toBe(false);
    expect(outage.broken).toBe(true);
    expect(outage.failures).toBe(2);
    expect(outage.warnOnce()).toBe(true);
    expect(outage.warnOnce()).toBe(false);
  });

  it('ends at a good reading, saying how it went, and the next outage starts afresh', () => {
    const outage = new ReadingOutage();
    expect(outage.recover()).toBeNull();
    outage.fail();
    outage.warnOnce();
    outage.fail();
    expect(outage.recover()).toEqual({ failures: 2, warned: true });
    expect(outage.broken).toBe(false);
    expect(outage.failures).toBe(0);
    expect(outage.recover()).toBeNull();
    expect(outage.fail()).toBe(true);
    expect(outage.warnOnce()).toBe(true);
    expect(outage.recover()).toEqual({ failures: 1, warned: true });
  });
});

describe('deliverReading', () => {
  it('hands the reading to the sink, and logs a sink that throws instead of throwing', () => {
    const logger = fakeMonitorLogger();
    const seen: unknown[] = [];
    const reading = stats();
    deliverReading({ onStats: (s) => seen.push(s) }, reading, logger, 'c1', 'handler threw');
    expect(seen).toEqual([reading]);
    const throwing = {
      onStats: () => {
        throw new Error('bug');
      },
    };
    expect(() => deliverReading(throwing, reading, logger, 'c1', 'handler threw')).not.toThrow();
    expect(logger.warn).toHaveBeenCalledWith({ containerId: 'c1', error: 'bug' }, 'handler threw');
  });
});
