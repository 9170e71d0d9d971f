import { describe, expect, it } from 'vitest';
import { AlertTracker } from '../../src/monitor/alert-tracker.js';
import type { HealthAlert } from '../../src/monitor/monitor-types.js';
import { THRESHOLDS, sample } from './fixtures.js';

const T0 = 1_700_000_000_000;

/** Feeds CPU values one second apart and returns what each sample published. */
function feedCpu(tracker: AlertTracker, values: readonly number[], containerId = 'c1', runId: string | null = 'run-1') {
  return values.map((cpuPercent, index) => tracker.observe(sample(containerId, runId, { cpuPercent, atMs: T0 + index * 1000 })));
}

function tracker(consecutiveSamples = 2): AlertTracker {
  return new AlertTracker({ thresholds: THRESHOLDS, consecutiveSamples });
}

describe('AlertTracker', () => {
  it('raises after N samples in a row at or above a threshold, with a readable message', () => {
    const t = tracker(2);
    const published = feedCpu(t, [97.2, 97.24]);
    expect(published[0]).toEqual([]);
    expect(published[1]).toHaveLength(1);
    const alert = published[1]![0]!;
    expect(alert).toMatchObject({
      level: 'CRITICAL',
      metric: 'CPU',
      value: 97.24,
      threshold: 90,
      containerId: 'c1',
      runId: 'run-1',
      resolvedAt: null,
      message: 'CPU at 97.2% of one CPU ≥ critical 90% for 2 samples',
    });
    expect(alert.at).toEqual(new Date(T0 + 1000));
    expect(alert.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('does not raise when the streak is broken', () => {
    const t = tracker(3);
    expect(feedCpu(t, [95, 95, 10, 95, 95]).flat()).toEqual([]);
  });

  it('raises once per episode while the metric stays up', () => {
    const t = tracker(2);
    const all = feedCpu(t, [80, 80, 80, 85, 75, 80]).flat();
    expect(all.map((a) => a.level)).toEqual(['WARNING']);
    expect(all[0]!.message).toBe('CPU at 80% of one CPU ≥ warning 70% for 2 samples');
  });

  it('a rise WARNING → CRITICAL is a new alert; falling back to WARNING is not', () => {
    const t = tracker(2);
    const all = feedCpu(t, [80, 80, 95, 95, 95, 80, 80, 95, 95]).flat();
    expect(all.map((a) => a.level)).toEqual(['WARNING', 'CRITICAL']);
    expect(t.activeAlerts('c1')).toHaveLength(2);
  });

  it('starting straight at CRITICAL raises only the CRITICAL alert', () => {
    const all = feedCpu(tracker(2), [95, 95, 95]).flat();
    expect(all.map((a) => a.level)).toEqual(['CRITICAL']);
  });

  it('recovers after N samples below warning, re-publishing every alert of the episode resolved', () => {
    const t = tracker(2);
    const published = feedCpu(t, [80, 80, 95, 95, 60, 95, 60, 60, 60]);
    const raised = published.flat().filter((a) => a.resolvedAt === null);
    const resolved = published.flat().filter((a) => a.resolvedAt !== null);
    expect(raised.map((a) => a.level)).toEqual(['WARNING', 'CRITICAL']);
    // One dip (sample 4) is not a recovery; two in a row (samples 6, 7) are.
    expect(published[4]).toEqual([]);
    expect(published[7]!.map((a) => a.id)).toEqual(raised.map((a) => a.id));
    expect(resolved.every((a) => a.resolvedAt!.getTime() === T0 + 7000)).toBe(true);
    expect(resolved[1]).toEqual({ ...raised[1], resolvedAt: new Date(T0 + 7000) });
    expect(t.activeAlerts('c1')).toEqual([]);
  });

  it('a new episode after a recovery raises again with a new id', () => {
    const t = tracker(1);
    const all = feedCpu(t, [95, 10, 95]).flat();
    expect(all.map((a) => [a.level, a.resolvedAt === null])).toEqual([
      ['CRITICAL', true],
      ['CRITICAL', false],
      ['CRITICAL', true],
    ]);
    expect(new Set(all.map((a) => a.id)).size).toBe(2);
  });

  it('grades CPU as a percentage of the CPU limit when given one, and says so', () => {
    const t = tracker(1);
    // 45 % of one CPU: HEALTHY on the raw figure, 90 % of a 0.5-CPU limit.
    expect(t.observe(sample('raw', 'run-1', { cpuPercent: 45 }))).toEqual([]);
    const [alert] = t.observe(sample('half', 'run-2', { cpuPercent: 45 }), 0.5);
    expect(alert).toMatchObject({
      level: 'CRITICAL',
      value: 90,
      threshold: 90,
      message: 'CPU at 90% of its 0.5-CPU limit ≥ critical 90% for 1 sample',
    });
    // 150 % of one CPU on a 2-CPU limit is 75 %: WARNING, where the raw figure would be CRITICAL.
    expect(t.observe(sample('two', 'run-3', { cpuPercent: 150 }), 2).map((a) => [a.level, a.value])).toEqual([['WARNING', 75]]);
    // The limit does not change how memory and pids are read.
    expect(t.observe(sample('mem', 'run-4', { memoryPercent: 75 }), 0.5).map((a) => a.metric)).toEqual(['MEMORY']);
  });

  it('alerts on a run capped at 256 processes, grading pids against its limit (regression)', () => {
    const t = tracker(1);
    // Under the old absolute thresholds (800 / 950) a 256-process run could never alert.
    expect(t.observe(sample('c1', 'run-1', { pids: 200, pidsLimit: 256 }))).toEqual([]);
    const [warning] = t.observe(sample('c1', 'run-1', { pids: 210, pidsLimit: 256, atMs: T0 + 1000 }));
    expect(warning).toMatchObject({
      level: 'WARNING',
      metric: 'PIDS',
      value: (210 / 256) * 100,
      threshold: 80,
      message: 'PIDs at 82% of its 256-process limit ≥ warning 80% for 1 sample',
    });
    const [critical] = t.observe(sample('c1', 'run-1', { pids: 250, pidsLimit: 256, atMs: T0 + 2000 }));
    expect(critical).toMatchObject({ level: 'CRITICAL', threshold: 95 });
  });

  it('grades a pids count against the count thresholds when the limit is unknown', () => {
    const [alert] = tracker(1).observe(sample('c1', 'run-1', { pids: 960, pidsLimit: null }));
    expect(alert).toMatchObject({ level: 'CRITICAL', value: 960, threshold: 950, message: 'PIDs at 960 ≥ critical 950 for 1 sample' });
  });

  it('with the count thresholds configured, the worse of count and percentage raises', () => {
    const t = new AlertTracker({ thresholds: { ...THRESHOLDS, pidsCountAlways: true }, consecutiveSamples: 1 });
    // 900 of 4096 is 22 %: only the count (≥ 800) says WARNING.
    const [alert] = t.observe(sample('c1', 'run-1', { pids: 900, pidsLimit: 4096 }));
    expect(alert).toMatchObject({ level: 'WARNING', value: 900, threshold: 800, message: 'PIDs at 900 ≥ warning 800 for 1 sample' });
    // Without them, the same sample is healthy.
    expect(tracker(1).observe(sample('c1', 'run-1', { pids: 900, pidsLimit: 4096 }))).toEqual([]);
  });

  it('tracks metrics and containers independently', () => {
    const t = tracker(1);
    const first = t.observe(sample('c1', 'run-1', { cpuPercent: 95, memoryPercent: 75, pids: 960 }));
    expect(first.map((a) => `${a.metric}:${a.level}`)).toEqual(['CPU:CRITICAL', 'MEMORY:WARNING', 'PIDS:CRITICAL']);
    expect(first[2]!.message).toBe('PIDs at 96% of its 1000-process limit ≥ critical 95% for 1 sample');
    expect(t.observe(sample('c2', 'run-2', { cpuPercent: 95 })).map((a) => a.containerId)).toEqual(['c2']);
    expect(t.activeAlerts('c1')).toHaveLength(3);
    expect(t.activeAlerts('c2')).toHaveLength(1);
  });

  it('returns every alert it raises and resolves, for the caller to publish and record', () => {
    const t = tracker(1);
    const published = feedCpu(t, [80, 95, 10]).flat();
    expect(published.map((a) => [a.level, a.resolvedAt !== null])).toEqual([
      ['WARNING', false],
      ['CRITICAL', false],
      ['WARNING', true],
      ['CRITICAL', true],
    ]);
    expect(published[2]!.id).toBe(published[0]!.id);
  });

  it('tracks containers bosun did not start like any other', () => {
    const t = tracker(1);
    expect(feedCpu(t, [95], 'foreign', null).flat()).toHaveLength(1);
    expect(t.activeAlerts('foreign')).toHaveLength(1);
  });

  it('closing a container resolves its open alerts and forgets its streaks', () => {
    const t = tracker(2);
    feedCpu(t, [95, 95, 95]);
    const at = new Date(T0 + 60_000);
    const closed: HealthAlert[] = t.closeContainer('c1', at);
    expect(closed).toHaveLength(1);
    expect(closed[0]!.resolvedAt).toEqual(at);
    expect(t.activeAlerts('c1')).toEqual([]);
    expect(t.closeContainer('c1', at)).toEqual([]);
    // The streak starts over: one sample is not enough.
    expect(feedCpu(t, [95]).flat()).toEqual([]);
  });

  it('validates its options eagerly', () => {
    expect(() => tracker(0)).toThrow('Expected consecutiveSamples to be an integer of at least 1, got 0');
  });
});
