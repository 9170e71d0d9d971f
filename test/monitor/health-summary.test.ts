import { describe, expect, it } from 'vitest';
import { describeHealth, summarizeHealth } from '../../src/monitor/health-summary.js';
import type { ContainerHealth, HealthLevel } from '../../src/monitor/monitor-types.js';
import { sample } from './fixtures.js';

function container(id: string, level: HealthLevel, reading: { cpuPercent: number; memoryPercent: number } | null): ContainerHealth {
  return {
    containerId: id,
    name: id,
    runId: null,
    level,
    monitorSource: 'CGROUP_FILES',
    latest: reading === null ? null : sample(id, null, reading),
    alerts: [],
    checkedAt: null,
  };
}

describe('summarizeHealth', () => {
  it('counts by level and averages over containers with a current reading', () => {
    const overall = summarizeHealth([
      container('a', 'HEALTHY', { cpuPercent: 10, memoryPercent: 20 }),
      container('b', 'WARNING', { cpuPercent: 75, memoryPercent: 30 }),
      container('c', 'CRITICAL', { cpuPercent: 50, memoryPercent: 40 }),
      // A broken stream: its last reading is stale and stays out of the averages.
      container('d', 'UNKNOWN', { cpuPercent: 99, memoryPercent: 99 }),
      container('e', 'UNKNOWN', null),
    ]);
    expect(overall).toEqual({
      totalContainers: 5,
      healthyContainers: 1,
      warningContainers: 1,
      criticalContainers: 1,
      unhealthyContainers: 2,
      avgCpuPercent: 45,
      avgMemoryPercent: 30,
    });
  });

  it('has zero averages without readings', () => {
    expect(summarizeHealth([])).toMatchObject({ totalContainers: 0, avgCpuPercent: 0, avgMemoryPercent: 0 });
  });
});

describe('describeHealth', () => {
  it('is one line with the counts and the engine', () => {
    const overall = summarizeHealth([container('a', 'HEALTHY', { cpuPercent: 1, memoryPercent: 1 }), container('b', 'UNKNOWN', null)]);
    expect(describeHealth(overall, { reachable: true, version: '27.1.1', error: null })).toBe(
      'health: 2 containers (1 healthy, 0 warning, 0 critical, 1 unknown), docker 27.1.1',
    );
    expect(describeHealth(overall, { reachable: false, version: null, error: 'connect ENOENT' })).toBe(
      'health: 2 containers (1 healthy, 0 warning, 0 critical, 1 unknown), docker unreachable (connect ENOENT)',
    );
  });
});
