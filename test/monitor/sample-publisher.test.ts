/**
 * The monitor's publishing on its own: thinning readings to one sample per interval, alerts from
 * the tracker, what reaches the history and the events, and a history write that fails.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AlertTracker } from '../../src/monitor/alert-tracker.js';
import type { MonitorEvents } from '../../src/monitor/monitor-service.js';
import type { HealthAlert, ResourceSample } from '../../src/monitor/monitor-types.js';
import { SamplePublisher, type PublishedContainer } from '../../src/monitor/sample-publisher.js';
import { FakeMonitorHistory } from './fake-monitor-history.js';
import { fakeMonitorLogger } from './fake-monitor-logger.js';
import { THRESHOLDS, stats } from './fixtures.js';

const T0 = 1_700_000_000_000;

function setup() {
  const events = new EventEmitter<MonitorEvents>();
  const history = new FakeMonitorHistory();
  const logger = fakeMonitorLogger();
  const publisher = new SamplePublisher({
    events,
    history,
    tracker: new AlertTracker({ thresholds: THRESHOLDS, consecutiveSamples: 1 }),
    logger,
    sampleIntervalMs: 1000,
    now: () => new Date(T0),
  });
  const seen = { samples: [] as ResourceSample[], alerts: [] as HealthAlert[] };
  events.on('sample', (s) => seen.samples.push(s));
  events.on('alert', (a) => seen.alerts.push(a));
  return { publisher, history, logger, seen };
}

function container(containerId: string, runId: string | null): PublishedContainer {
  return { containerId, runId, limitCpus: null, latest: null, checkedAt: null, lastPublishedAtMs: null };
}

describe('SamplePublisher', () => {
  it('throttles to one sample per interval per container, dropping the frames in between', () => {
    const { publisher, seen } = setup();
    const c1 = container('c1', 'run-1');
    const c2 = container('c2', 'run-2');
    for (let ms = 0; ms <= 2500; ms += 100) publisher.publishStats(c1, stats({ atMs: T0 + ms }), false);
    for (const ms of [50, 999, 1050]) publisher.publishStats(c2, stats({ atMs: T0 + ms }), false);
    const at = (id: string) => seen.samples.filter((s) => s.containerId === id).map((s) => s.at.getTime() - T0);
    expect(at('c1')).toEqual([0, 1000, 2000]);
    expect(at('c2')).toEqual([50, 1050]);
    expect(c1.latest).toBe(seen.samples.filter((s) => s.containerId === 'c1').at(-1));
  });

  it('publishes again at once when the frame clock goes backwards', () => {
    const { publisher, seen } = setup();
    const c1 = container('c1', 'run-1');
    publisher.publishStats(c1, stats({ atMs: T0 + 10_000 }), false);
    publisher.publishStats(c1, stats({ atMs: T0 }), false);
    expect(seen.samples).toHaveLength(2);
  });

  it('publishes every paced reading, even a tick a millisecond early', () => {
    const { publisher, seen } = setup();
    const c1 = container('c1', 'run-1');
    for (const atMs of [T0, T0 + 999, T0 + 1998]) publisher.publishStats(c1, stats({ atMs }), true);
    expect(seen.samples).toHaveLength(3);
  });

  it('records what it publishes, alerts included, in the history', () => {
    const { publisher, history, seen } = setup();
    const c1 = container('c1', 'run-1');
    publisher.publishStats(c1, stats({ atMs: T0, cpuPercent: 99 }), false);
    expect(seen.alerts).toHaveLength(1);
    expect(history.recordedSamples).toEqual(seen.samples);
    expect(history.recordedAlerts).toEqual(seen.alerts);
  });

  it('a failing history write is logged and publishing goes on', () => {
    const { publisher, history, seen, logger } = setup();
    history.recordSample = () => {
      throw new Error('database is locked');
    };
    publisher.publishStats(container('c1', 'run-1'), stats({ atMs: T0 }), false);
    expect(seen.samples).toHaveLength(1);
    expect(logger.warn).toHaveBeenCalledWith({ error: 'database is locked' }, 'monitor history write failed');
  });
});
