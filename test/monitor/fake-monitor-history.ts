/**
 * An in-memory MonitorHistory for monitor unit tests: it keeps everything it is given, so tests
 * can check what the monitor recorded. (bosun's one history is the SQLite store, tested in
 * test/store/sqlite-history-store.test.ts.)
 */
import type { MonitorHistory } from '../../src/monitor/monitor-history.js';
import type { SampleQuery } from '../../src/monitor/monitor-service.js';
import type { HealthAlert, ResourcePeak, ResourceSample } from '../../src/monitor/monitor-types.js';
import { settle } from '../helpers/fake-async.js';

export class FakeMonitorHistory implements MonitorHistory {
  /** Every sample recorded, in order. */
  readonly recordedSamples: ResourceSample[] = [];
  /** Every alert recorded, in order (a resolution is a second entry with the same id). */
  readonly recordedAlerts: HealthAlert[] = [];
  /** What recentPeaks was last asked for. */
  lastRecentPeaksQuery: { running: readonly string[]; finishedLimit: number } | null = null;

  recordSample(sample: ResourceSample): void {
    this.recordedSamples.push(sample);
  }

  recordAlert(alert: HealthAlert): void {
    this.recordedAlerts.push(alert);
  }

  samples(query: SampleQuery): Promise<readonly ResourceSample[]> {
    return settle(() => this.#samples(query));
  }

  #samples(query: SampleQuery): readonly ResourceSample[] {
    const matching = this.recordedSamples.filter(
      (s) => (query.runId == null || s.runId === query.runId) && (query.containerId == null || s.containerId === query.containerId),
    );
    return query.last == null ? matching : matching.slice(Math.max(0, matching.length - query.last));
  }

  alerts(runId: string): Promise<readonly HealthAlert[]> {
    return settle(() => {
      const latest = new Map<string, HealthAlert>();
      for (const alert of this.recordedAlerts) if (alert.runId === runId) latest.set(alert.id, alert);
      return [...latest.values()];
    });
  }

  peak(runId: string): Promise<ResourcePeak | undefined> {
    return settle(() => this.#peak(runId));
  }

  flush(): Promise<boolean> {
    return Promise.resolve(true);
  }

  #peak(runId: string): ResourcePeak | undefined {
    const samples = this.recordedSamples.filter((s) => s.runId === runId);
    if (samples.length === 0) return undefined;
    return {
      cpuPercent: Math.max(...samples.map((s) => s.cpuPercent)),
      memoryBytes: Math.max(...samples.map((s) => s.memoryUsageBytes)),
      pids: Math.max(...samples.map((s) => s.pids)),
    };
  }

  recentPeaks(runningAgentIds: readonly string[], finishedLimit: number): Promise<readonly ResourcePeak[]> {
    return settle(() => {
      this.lastRecentPeaksQuery = { running: [...runningAgentIds], finishedLimit };
      const others = [...new Set(this.recordedSamples.map((s) => s.runId))].filter(
        (id): id is string => id !== null && !runningAgentIds.includes(id),
      );
      const ids = [...runningAgentIds, ...others.slice(Math.max(0, others.length - finishedLimit))];
      return ids.flatMap((id) => this.#peak(id) ?? []);
    });
  }
}
