/**
 * The MonitorHistory contract: the same cases against every history store (SqliteHistoryStore on
 * an in-memory database, PostgresHistoryStore on a real PostgreSQL). Every call is awaited, so
 * the cases hold for the synchronous and the asynchronous interface alike.
 */
import { describe, expect, it } from 'vitest';
import type { SampleQuery } from '../../../src/monitor/monitor-service.js';
import type { HealthAlert, ResourcePeak, ResourceSample } from '../../../src/monitor/monitor-types.js';

type MaybePromise<T> = T | Promise<T>;

/** What the contract calls: MonitorHistory's methods, synchronous or not, and retention. */
export interface ContractHistory {
  recordSample(sample: ResourceSample): void;
  recordAlert(alert: HealthAlert): void;
  samples(query: SampleQuery): MaybePromise<readonly ResourceSample[]>;
  alerts(runId: string): MaybePromise<readonly HealthAlert[]>;
  peak(runId: string): MaybePromise<ResourcePeak | undefined>;
  recentPeaks(runningAgentIds: readonly string[], finishedLimit: number): MaybePromise<readonly ResourcePeak[]>;
  prune(now?: number): MaybePromise<void>;
  sampleCount(): MaybePromise<number>;
}

/** Opens a history on empty data. */
export type OpenHistory = (options: { sampleRetentionMs: number; liveWindowMs: number }) => Promise<ContractHistory>;

/** A sample whose memory, memory share and pids follow its CPU share (shared with the SQLite-only cases). */
export function sample(containerId: string, runId: string | null, atMs: number, cpuPercent: number): ResourceSample {
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

/** An open memory alert of run `r` (shared with each backend's cases of a store that cannot write). */
export const MEMORY_ALERT: HealthAlert = Object.freeze({
  id: 'al1',
  level: 'WARNING',
  metric: 'MEMORY',
  value: 75,
  threshold: 70,
  containerId: 'c',
  runId: 'r',
  at: new Date('2026-01-01T00:00:00Z'),
  message: 'memory high',
  resolvedAt: null,
});

export function describeHistoryContract(name: string, open: OpenHistory): void {
  const newHistory = () => open({ sampleRetentionMs: 3_600_000, liveWindowMs: 60_000 });

  describe(`MonitorHistory contract: ${name}`, () => {
    it('records alerts and their resolution under one id, and samples by run and by container', async () => {
      const history = await newHistory();
      const alert: HealthAlert = {
        id: 'al1',
        level: 'CRITICAL',
        metric: 'CPU',
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
      history.recordAlert({ ...alert, id: 'al0', at: new Date('2025-12-31T23:59:00Z'), message: 'earlier' });
      expect(await history.alerts('r')).toEqual([
        { ...alert, id: 'al0', at: new Date('2025-12-31T23:59:00Z'), message: 'earlier' },
        { ...alert, resolvedAt: new Date('2026-01-01T00:01:00Z') },
      ]);
      expect(await history.alerts('other')).toEqual([]);
      for (let i = 0; i < 5; i += 1) history.recordSample(sample('c', 'r', 1000 * i, i));
      expect((await history.samples({ runId: 'r' })).map((s) => s.cpuPercent)).toEqual([0, 1, 2, 3, 4]);
      expect((await history.samples({ runId: 'r', last: 2 })).map((s) => s.cpuPercent)).toEqual([3, 4]);
      expect((await history.samples({ containerId: 'c', last: 1 }))[0]).toEqual(sample('c', 'r', 4000, 4));
      expect(await history.samples({})).toEqual([]);
      expect(await history.peak('r')).toEqual({ cpuPercent: 4, memoryBytes: 40, pids: 4 });
      expect(await history.peak('never')).toBeUndefined();
    });

    it('returns the last N samples of a run in one container even when another container sampled last', async () => {
      const history = await newHistory();
      // A run whose container was replaced (c1, then c2): c2's samples are the newest.
      for (let i = 0; i < 5; i += 1) history.recordSample(sample('c1', 'r', 1000 * i, i));
      for (let i = 5; i < 10; i += 1) history.recordSample(sample('c2', 'r', 1000 * i, i));
      // A regression: the run's last 3 samples were taken first (all c2's), then filtered to c1: none.
      expect((await history.samples({ runId: 'r', containerId: 'c1', last: 3 })).map((s) => s.cpuPercent)).toEqual([2, 3, 4]);
      expect((await history.samples({ runId: 'r', containerId: 'c2', last: 3 })).map((s) => s.cpuPercent)).toEqual([7, 8, 9]);
      expect((await history.samples({ runId: 'r', containerId: 'c1' })).map((s) => s.cpuPercent)).toEqual([0, 1, 2, 3, 4]);
      expect(await history.samples({ runId: 'other', containerId: 'c1', last: 3 })).toEqual([]);
    });

    it('recentPeaks: the running runs’ peaks, then those of the runs sampled most recently', async () => {
      const history = await newHistory();
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
      await expect(Promise.resolve().then(() => history.recentPeaks([], -1))).rejects.toThrow(
        'Expected finishedLimit to be an integer of at least 0, got -1',
      );
    });

    it('refuses a negative last', async () => {
      const history = await newHistory();
      await expect(Promise.resolve().then(() => history.samples({ runId: 'r', last: -1 }))).rejects.toThrow(
        'Expected last to be an integer of at least 0, got -1',
      );
    });

    it('thins samples past the live window to one a minute and deletes those past the retention, keeping the peak', async () => {
      const history = await open({ sampleRetentionMs: 24 * 3_600_000, liveWindowMs: 15 * 60_000 });
      const now = Date.parse('2026-11-26T12:00:00Z');
      // 2,000 samples over the last 30 hours, one every 54 s.
      for (let i = 0; i < 2000; i += 1)
        history.recordSample({ ...sample('c', 'r', now - 30 * 3_600_000 + i * 54_000, i % 100), memoryUsageBytes: 1e6 });
      await history.prune(now);
      const samples = await history.sampleCount();
      // Kept: 24 h (1,600 samples), of which all but the last 15 minutes thinned to one a minute.
      expect(samples).toBeLessThanOrEqual(24 * 60 + (15 * 60) / 54 + 2);
      expect(samples).toBeGreaterThan(24 * 60 - 60);
      const kept = await history.samples({ runId: 'r' });
      expect(kept[0]!.at.getTime()).toBeGreaterThanOrEqual(now - 24 * 3_600_000);
      expect(await history.peak('r')).toEqual({ cpuPercent: 99, memoryBytes: 1e6, pids: 99 });
    });
  });
}
