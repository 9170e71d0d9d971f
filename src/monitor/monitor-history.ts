/**
 * Where the monitor keeps what it published, so that there is ONE history of samples, alerts and
 * per-run peaks.
 *
 * The monitor owns the live state: the latest sample of each watched container and its open
 * alert episodes, which it needs to grade and to report. Everything over time (samples, every
 * alert of a run in its latest state, each run's peak) belongs to the history: the monitor
 * records into it as it publishes, and reads runs' timelines and the peaks behind its
 * concurrency advice back from it. In bosun the history is the SQLite store (so it survives
 * restarts, with its own window, thinning and retention); the monitor only knows this interface.
 */
import type { SampleQuery } from './monitor-service.js';
import type { HealthAlert, ResourcePeak, ResourceSample } from './monitor-types.js';

export interface MonitorHistory {
  /**
   * Records a published sample and raises its run's peak (a sample without a run has no peak).
   * Synchronous and write-behind, as {@link recordAlert}: publishing never waits for the store.
   */
  recordSample(sample: ResourceSample): void;
  /** Records an alert, or its resolution (the same id, `resolvedAt` set). */
  recordAlert(alert: HealthAlert): void;
  /**
   * Samples of a run, of a container, or of a run in one container (both given), oldest first;
   * the last N when `last` is set. Nothing when neither a run nor a container is given.
   */
  samples(query: SampleQuery): Promise<readonly ResourceSample[]>;
  /** Every alert of a run in its latest state, oldest first. */
  alerts(runId: string): Promise<readonly HealthAlert[]>;
  /** The highest use a run's container reached, if it was ever sampled. */
  peak(runId: string): Promise<ResourcePeak | undefined>;
  /**
   * The peaks of the running runs, and of the `finishedLimit` other runs sampled most recently:
   * what the concurrency advice estimates a run's use from.
   */
  recentPeaks(runningAgentIds: readonly string[], finishedLimit: number): Promise<readonly ResourcePeak[]>;
  /** Writes what is buffered (samples, alerts); resolves true when everything was written. */
  flush(): Promise<boolean>;
}
