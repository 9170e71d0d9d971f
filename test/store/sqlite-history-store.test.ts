import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ResourceSample } from '../../src/monitor/monitor-types.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteHistoryStore } from '../../src/store/sqlite-history-store.js';
import { StoreHealth } from '../../src/store/store-health.js';
import { createTestLogger } from '../helpers/test-logger.js';

function newHistory(): SqliteHistoryStore {
  return new SqliteHistoryStore(openDatabase(':memory:'), { sampleRetentionMs: 3_600_000, liveWindowMs: 60_000 });
}

function sample(containerId: string, runId: string | null, atMs: number, cpuPercent: number): ResourceSample {
  return {
    containerId,
    runId,
    at: new Date(atMs),
    cpuPercent,
    memoryUsageBytes: 10 * cpuPercent,
    memoryLimitBytes: 100,
    memoryPercent: 10 * cpuPercent,
    pids: cpuPercent,
    pidsLimit: null,
  };
}

describe('SqliteHistoryStore', () => {
  it('records alerts and their resolution under one id, and samples by run and by container', async () => {
    const history = newHistory();
    const alert = {
      id: 'al1',
      level: 'CRITICAL' as const,
      metric: 'CPU' as const,
      value: 95,
      threshold: 90,
      containerId: 'c',
      runId: 'r',
      at: new Date('2026-01-01T00:00:00Z'),
      message: 'CPU high',
      resolvedAt: null,
    };
    history.recordAlert(alert);
    history.recordAlert({ ...alert, resolvedAt: new Date('2026-01-01T00:01:00Z') });
    expect(await history.alerts('r')).toEqual([{ ...alert, resolvedAt: new Date('2026-01-01T00:01:00Z') }]);
    for (let i = 0; i < 5; i += 1) history.recordSample(sample('c', 'r', 1000 * i, i));
    expect((await history.samples({ runId: 'r' })).map((s) => s.cpuPercent)).toEqual([0, 1, 2, 3, 4]);
    expect((await history.samples({ runId: 'r', last: 2 })).map((s) => s.cpuPercent)).toEqual([3, 4]);
    expect((await history.samples({ containerId: 'c', last: 1 }))[0]).toMatchObject({ cpuPercent: 4, pidsLimit: null, runId: 'r' });
    expect(await history.peak('r')).toEqual({ cpuPercent: 4, memoryBytes: 40, pids: 4 });
  });

  it('returns the last N samples of a run in one container even when another container sampled last (regression)', async () => {
    const history = newHistory();
    // A run whose container was replaced (c1, then c2): c2's samples are the newest.
    for (let i = 0; i < 5; i += 1) history.recordSample(sample('c1', 'r', 1000 * i, i));
    for (let i = 5; i < 10; i += 1) history.recordSample(sample('c2', 'r', 1000 * i, i));
    // Before the fix: the run's last 3 samples were taken first (all c2's), then filtered to c1: none.
    expect((await history.samples({ runId: 'r', containerId: 'c1', last: 3 })).map((s) => s.cpuPercent)).toEqual([2, 3, 4]);
    expect((await history.samples({ runId: 'r', containerId: 'c2', last: 3 })).map((s) => s.cpuPercent)).toEqual([7, 8, 9]);
    expect((await history.samples({ runId: 'r', containerId: 'c1' })).map((s) => s.cpuPercent)).toEqual([0, 1, 2, 3, 4]);
    expect(await history.samples({ runId: 'other', containerId: 'c1', last: 3 })).toEqual([]);
  });

  it('recentPeaks: the running runs’ peaks, then those of the runs sampled most recently', async () => {
    const history = newHistory();
    // run-old runs long (sampled first and last); run-1 … run-4 ran and finished in between.
    history.recordSample(sample('c0', 'run-old', 0, 50));
    for (let n = 1; n <= 4; n += 1) history.recordSample(sample(`c${n}`, `run-${n}`, n * 1000, n));
    history.recordSample(sample('c0', 'run-old', 9000, 60));
    history.recordSample(sample('cx', null, 9500, 99));
    const cpu = async (running: string[], finished: number) => (await history.recentPeaks(running, finished)).map((p) => p.cpuPercent);
    expect((await cpu(['run-old'], 2)).sort((a, b) => a - b)).toEqual([3, 4, 60]);
    expect((await cpu([], 2)).sort((a, b) => a - b)).toEqual([4, 60]);
    expect(await cpu(['run-old'], 0)).toEqual([60]);
    expect(await cpu(['never-sampled'], 1)).toEqual([60]);
    await expect(history.recentPeaks([], -1)).rejects.toThrow('Expected finishedLimit to be an integer of at least 0, got -1');
  });

  it('refuses a negative last', async () => {
    await expect(newHistory().samples({ runId: 'r', last: -1 })).rejects.toThrow('Expected last to be an integer of at least 0, got -1');
  });
});

describe('SqliteHistoryStore when the database cannot write', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps samples and alerts that fail to write, reads the alerts, and writes both once it can', async () => {
    const db = openDatabase(':memory:');
    const health = new StoreHealth({ logger: createTestLogger() });
    const history = new SqliteHistoryStore(db, { sampleRetentionMs: 3_600_000, liveWindowMs: 60_000, health });
    db.exec("CREATE TEMP TRIGGER full_samples BEFORE INSERT ON samples BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
    db.exec("CREATE TEMP TRIGGER full_alerts BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
    const alert = {
      id: 'al1',
      level: 'WARNING' as const,
      metric: 'MEMORY' as const,
      value: 75,
      threshold: 70,
      containerId: 'c',
      runId: 'r',
      at: new Date('2026-01-01T00:00:00Z'),
      message: 'memory high',
      resolvedAt: null,
    };
    for (let i = 0; i < 3; i += 1) history.recordSample(sample('c', 'r', 1000 * i, i));
    expect(() => history.recordAlert(alert)).not.toThrow();
    expect(() => vi.advanceTimersByTime(250)).not.toThrow();
    vi.advanceTimersByTime(300);
    expect(health.report()).toMatchObject({ status: 'DEGRADED' });
    expect(health.report().error).toContain('samples: database or disk is full');
    expect(health.report().error).toContain('alerts: database or disk is full');
    const resolved = { ...alert, resolvedAt: new Date('2026-01-01T00:01:00Z') };
    history.recordAlert(resolved);
    expect(await history.alerts('r')).toEqual([resolved]);
    // Nothing is pruned while samples wait.
    history.prune(Date.parse('2030-01-01T00:00:00Z'));

    db.exec('DROP TRIGGER full_samples');
    db.exec('DROP TRIGGER full_alerts');
    vi.advanceTimersByTime(5000);
    expect(health.report().status).toBe('OK');
    expect((await history.samples({ runId: 'r' })).map((s) => s.cpuPercent)).toEqual([0, 1, 2]);
    expect((db.prepare('SELECT count(*) AS n FROM alerts').get() as { n: number }).n).toBe(1);
    expect(await history.alerts('r')).toEqual([resolved]);
  });
});
