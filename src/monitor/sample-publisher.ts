/**
 * The monitor's output: turns a container's readings into published samples (thinned to one per
 * sample interval), feeds them to the alert tracker, records samples and alerts in the history
 * and emits them as events — without letting a failed history write or a throwing listener stop
 * the reading or the health check that published.
 *
 * Split from the {@link DockerMonitor}, which keeps what is watched (containers, their samplers,
 * names and limits), reports and advice, and hands each reading here.
 */
import type { EventEmitter } from 'node:events';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ResourceStats } from '../sandbox/resource-stats.js';
import type { AlertTracker } from './alert-tracker.js';
import type { MonitorHistory } from './monitor-history.js';
import type { MonitorEvents } from './monitor-service.js';
import type { HealthAlert, ResourceSample } from './monitor-types.js';

/** What the publisher reads of a watched container, and the latest sample it keeps on it. */
export interface PublishedContainer {
  readonly containerId: string;
  readonly runId: string | null;
  /** The container's CPU limit; null when unknown (CPU is then graded on the raw figure). */
  readonly limitCpus: number | null;
  latest: ResourceSample | null;
  checkedAt: Date | null;
  lastPublishedAtMs: number | null;
}

export interface SamplePublisherOptions {
  readonly events: EventEmitter<MonitorEvents>;
  readonly history: Pick<MonitorHistory, 'recordSample' | 'recordAlert'>;
  readonly tracker: Pick<AlertTracker, 'observe'>;
  readonly logger: Pick<Logger, 'warn'>;
  /** At most one sample per container is published per this many milliseconds. */
  readonly sampleIntervalMs: number;
  readonly now: () => Date;
}

export class SamplePublisher {
  constructor(private readonly options: SamplePublisherOptions) {}

  /**
   * Publishes a reading. A stream's frames come at the engine's pace (one a second) and are
   * thinned to one per sample interval here; cgroup files are read once per interval already
   * (`paced`), and a timer's ticks can be a millisecond less than the interval apart, which must
   * not drop one.
   */
  publishStats(watch: PublishedContainer, stats: ResourceStats, paced: boolean): void {
    const atMs = stats.at.getTime();
    const last = watch.lastPublishedAtMs;
    // A frame dated before the last published one (engine clock moved back) restarts the throttle.
    if (!paced && last !== null && atMs >= last && atMs - last < this.options.sampleIntervalMs) return;
    watch.lastPublishedAtMs = atMs;
    const sample: ResourceSample = {
      containerId: watch.containerId,
      runId: watch.runId,
      at: stats.at,
      cpuPercent: stats.cpuPercent,
      memoryUsageBytes: stats.memoryUsageBytes,
      memoryLimitBytes: stats.memoryLimitBytes,
      memoryPercent: stats.memoryPercent,
      pids: stats.pids,
      pidsLimit: stats.pidsLimit,
    };
    watch.latest = sample;
    watch.checkedAt = this.options.now();
    this.record(() => this.options.history.recordSample(sample));
    const alerts = this.options.tracker.observe(sample, watch.limitCpus);
    this.emit('sample', sample);
    for (const alert of alerts) this.publishAlert(alert);
  }

  publishAlert(alert: HealthAlert): void {
    this.record(() => this.options.history.recordAlert(alert));
    this.emit('alert', alert);
  }

  /** Emits without letting a throwing listener break the stream or check that emitted. */
  emit<K extends keyof MonitorEvents>(event: K, ...args: MonitorEvents[K]): void {
    const { events } = this.options;
    try {
      (events.emit as (event: K, ...args: MonitorEvents[K]) => boolean).call(events, event, ...args);
    } catch (error) {
      this.options.logger.warn({ event, error: errorMessage(error) }, 'monitor event listener threw');
    }
  }

  /** Writes to the history without letting a failed write stop publishing. */
  private record(write: () => void): void {
    try {
      write();
    } catch (error) {
      this.options.logger.warn({ error: errorMessage(error) }, 'monitor history write failed');
    }
  }
}
