import { describe, expect, it, vi } from 'vitest';
import type { HealthAlert, ResourceSample } from '../../../src/monitor/monitor-types.js';
import {
  ALERT_WRITES,
  alertFromStored,
  admitAlert,
  peakFromColumns,
  peaksOfBatch,
  sampleFromColumns,
  withWaitingAlerts,
  type StoredAlert,
} from '../../../src/store/shared/history-rules.js';
import { StoreHealth } from '../../../src/store/store-health.js';
import { createTestLogger } from '../../helpers/test-logger.js';

function sample(runId: string | null, cpuPercent: number, memoryUsageBytes: number, pids: number): ResourceSample {
  return { containerId: 'c', runId, at: new Date(0), cpuPercent, memoryUsageBytes, memoryLimitBytes: 100, memoryPercent: 1, pids, pidsLimit: null };
}

function alert(id: string, runId: string, atMs: number, resolvedAtMs: number | null = null): HealthAlert {
  return {
    id,
    level: 'WARNING',
    metric: 'CPU',
    value: 95,
    threshold: 90,
    containerId: 'c',
    runId,
    at: new Date(atMs),
    message: 'CPU high',
    resolvedAt: resolvedAtMs === null ? null : new Date(resolvedAtMs),
  };
}

describe('history rules', () => {
  it("raises each run's peak to the highest of its samples in a batch, each measure on its own", () => {
    const peaks = peaksOfBatch([
      sample('a', 10, 500, 3),
      sample('b', 1, 1, 1),
      sample('a', 30, 200, 2),
      sample(null, 99, 999, 99),
      sample('a', 20, 100, 7),
    ]);
    expect(Object.fromEntries(peaks)).toEqual({
      a: { cpuPercent: 30, memoryBytes: 500, pids: 7 },
      b: { cpuPercent: 1, memoryBytes: 1, pids: 1 },
    });
    expect(peaksOfBatch([sample(null, 1, 1, 1)]).size).toBe(0);
  });

  it('overlays stored alerts with the newer waiting ones of the run, in time order', () => {
    const stored = [alert('a1', 'r', 1000), alert('a2', 'r', 3000)];
    const waiting = [alert('a1', 'r', 1000, 5000), alert('a0', 'r', 500), alert('x', 'other', 0)];
    expect(withWaitingAlerts(stored, waiting, 'r')).toEqual([alert('a0', 'r', 500), alert('a1', 'r', 1000, 5000), alert('a2', 'r', 3000)]);
    expect(withWaitingAlerts(stored, [], 'r')).toEqual(stored);
  });

  it('lets a new alert wait only under the bound, counting the drop, and a newer state of a waiting one always', () => {
    const health = new StoreHealth({ logger: createTestLogger() });
    const dropped = vi.spyOn(health, 'dropped');
    const full = new Map(Array.from({ length: ALERT_WRITES.maxPending }, (_, i) => [`a${i}`, alert(`a${i}`, 'r', i)]));
    expect(admitAlert(full, alert('a0', 'r', 0, 1), health)).toBe(true);
    expect(dropped).not.toHaveBeenCalled();
    expect(admitAlert(full, alert('new', 'r', 0), health)).toBe(false);
    expect(dropped.mock.calls).toEqual([['alerts']]);
    full.delete('a0');
    expect(admitAlert(full, alert('new', 'r', 0), health)).toBe(true);
  });

  it('reads rows back into samples, peaks and alerts', () => {
    const row = {
      run_id: null,
      container_id: 'c',
      at: 1000,
      cpu_percent: 1.5,
      memory_usage_bytes: 10,
      memory_limit_bytes: 100,
      memory_percent: 10,
      pids: 2,
      pids_limit: 50,
    };
    expect(sampleFromColumns(row, (ms) => new Date(ms))).toEqual({
      containerId: 'c',
      runId: null,
      at: new Date(1000),
      cpuPercent: 1.5,
      memoryUsageBytes: 10,
      memoryLimitBytes: 100,
      memoryPercent: 10,
      pids: 2,
      pidsLimit: 50,
    });
    expect(peakFromColumns({ cpu_percent: 1, memory_bytes: 2, pids: 3 })).toEqual({ cpuPercent: 1, memoryBytes: 2, pids: 3 });
    const resolved = alert('a', 'r', 1000, 2000);
    expect(alertFromStored(JSON.parse(JSON.stringify(resolved)) as StoredAlert)).toEqual(resolved);
    const open = alert('b', 'r', 1000);
    expect(alertFromStored(JSON.parse(JSON.stringify(open)) as StoredAlert)).toEqual(open);
  });
});
