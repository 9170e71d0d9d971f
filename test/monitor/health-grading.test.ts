import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.js';
import {
  cpuPercentOfLimit,
  describeGrade,
  describeMetricValue,
  formatMetricValue,
  gradeSample,
  gradeMetric,
  gradeValue,
  pidsPercentOfLimit,
  validateThresholds,
  worstLevel,
} from '../../src/monitor/health-grading.js';
import { THRESHOLDS, stats } from './fixtures.js';

describe('gradeValue', () => {
  it.each([
    [69.9, 'HEALTHY'],
    [70, 'WARNING'],
    [89.99, 'WARNING'],
    [90, 'CRITICAL'],
    [250, 'CRITICAL'],
  ] as const)('%s against 70/90 is %s (at-or-above counts)', (value, level) => {
    expect(gradeValue(value, { warning: 70, critical: 90 })).toBe(level);
  });
});

describe('gradeSample', () => {
  it('is UNKNOWN without a sample', () => {
    expect(gradeSample(null, THRESHOLDS)).toEqual({ level: 'UNKNOWN', metrics: [] });
    expect(gradeSample(undefined, THRESHOLDS).level).toBe('UNKNOWN');
  });

  it('grades each metric and takes the worst', () => {
    const grade = gradeSample(stats({ cpuPercent: 75, memoryPercent: 20, pids: 950 }), THRESHOLDS);
    expect(grade.metrics.map((m) => [m.metric, m.level])).toEqual([
      ['CPU', 'WARNING'],
      ['MEMORY', 'HEALTHY'],
      ['PIDS', 'CRITICAL'],
    ]);
    expect(grade.level).toBe('CRITICAL');
  });

  it('is HEALTHY when every metric is below its warning threshold', () => {
    expect(gradeSample(stats(), THRESHOLDS).level).toBe('HEALTHY');
  });

  it('reads CPU against the CPU limit when it is known', () => {
    // docker stats' 50 % (half a CPU) is the whole of a 0.5-CPU quota.
    expect(gradeSample(stats({ cpuPercent: 50 }), THRESHOLDS, 0.5)).toMatchObject({
      level: 'CRITICAL',
      metrics: [{ metric: 'CPU', value: 100, level: 'CRITICAL' }, { metric: 'MEMORY' }, { metric: 'PIDS' }],
    });
    // One full CPU of four is a quarter of the limit.
    expect(gradeSample(stats({ cpuPercent: 100 }), THRESHOLDS, 4).metrics[0]).toMatchObject({ value: 25, level: 'HEALTHY' });
    // Unknown (or unusable) limits leave the raw figure.
    expect(gradeSample(stats({ cpuPercent: 100 }), THRESHOLDS).metrics[0]).toMatchObject({ value: 100, level: 'CRITICAL' });
    expect(gradeSample(stats({ cpuPercent: 100 }), THRESHOLDS, 0).metrics[0]!.value).toBe(100);
    expect(cpuPercentOfLimit(98, 2)).toBe(49);
  });

  it('reads pids as a percentage of the sample’s pids limit (regression: a 256-process run alerts)', () => {
    const pids = (count: number, pidsLimit: number | null, thresholds = THRESHOLDS) =>
      gradeSample(stats({ pids: count, pidsLimit }), thresholds).metrics[2]!;
    expect(pids(200, 256)).toMatchObject({ level: 'HEALTHY', limit: 256, thresholds: { warning: 80, critical: 95 } });
    expect(pids(205, 256)).toMatchObject({ level: 'WARNING', value: (205 / 256) * 100 });
    expect(pids(244, 256)).toMatchObject({ level: 'CRITICAL' });
    // Without a known limit, the count thresholds grade the count.
    expect(pids(960, null)).toMatchObject({ level: 'CRITICAL', value: 960, limit: null, thresholds: { warning: 800, critical: 950 } });
    expect(pids(100, null).level).toBe('HEALTHY');
    // With a limit, the count thresholds apply only when configured; then the worse grade counts.
    expect(pids(900, 4096).level).toBe('HEALTHY');
    const always = { ...THRESHOLDS, pidsCountAlways: true };
    expect(pids(900, 4096, always)).toMatchObject({ level: 'WARNING', value: 900, limit: null });
    expect(pids(250, 256, always)).toMatchObject({ level: 'CRITICAL', limit: 256 });
    // A tie goes to the percentage.
    expect(pids(960, 1000, always)).toMatchObject({ level: 'CRITICAL', value: 96, limit: 1000 });
    expect(pidsPercentOfLimit(64, 256)).toBe(25);
  });

  it('reads memory as a percentage of the limit', () => {
    expect(gradeSample(stats({ memoryPercent: 90 }), THRESHOLDS).level).toBe('CRITICAL');
  });
});

describe('helpers', () => {
  it('worstLevel of nothing is HEALTHY', () => {
    expect(worstLevel([])).toBe('HEALTHY');
    expect(worstLevel(['WARNING', 'HEALTHY'])).toBe('WARNING');
  });

  it('formats values for messages', () => {
    expect(formatMetricValue('CPU', 97.24)).toBe('97.2%');
    expect(formatMetricValue('MEMORY', 90)).toBe('90%');
    expect(formatMetricValue('PIDS', 960)).toBe('960');
    expect(describeMetricValue('CPU', 98, 0.5)).toBe('98% of its 0.5-CPU limit');
    expect(describeMetricValue('CPU', 97.24)).toBe('97.2% of one CPU');
    expect(describeMetricValue('MEMORY', 85, 0.5)).toBe('85%');
    expect(formatMetricValue('PIDS', 82.04, true)).toBe('82%');
    const grade = (pids: number, pidsLimit: number | null) => gradeMetric(stats({ pids, pidsLimit }), 'PIDS', THRESHOLDS);
    expect(describeGrade(grade(210, 256), 80)).toEqual({ value: '82% of its 256-process limit', threshold: '80%' });
    expect(describeGrade(grade(960, null), 950)).toEqual({ value: '960', threshold: '950' });
    expect(describeGrade(gradeMetric(stats({ cpuPercent: 49 }), 'CPU', THRESHOLDS, 0.5), 90)).toEqual({
      value: '98% of its 0.5-CPU limit',
      threshold: '90%',
    });
  });

  it('refuses thresholds out of order with an "Expected X, got Y" message', () => {
    expect(() => validateThresholds({ ...THRESHOLDS, cpuPercentCritical: 50 })).toThrow(InvalidValueError);
    expect(() => validateThresholds({ ...THRESHOLDS, cpuPercentCritical: 50 })).toThrow(
      'Expected the CPU critical threshold to be at least its warning threshold 70, got 50',
    );
    expect(() => validateThresholds({ ...THRESHOLDS, pidsWarning: Number.NaN })).toThrow(/^Expected .*, got NaN$/);
    expect(() => validateThresholds({ ...THRESHOLDS, pidsPercentCritical: 50 })).toThrow(
      'Expected the PIDs % critical threshold to be at least its warning threshold 80, got 50',
    );
  });
});
