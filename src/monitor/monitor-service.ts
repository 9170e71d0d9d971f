/**
 * What the API needs from the monitor: reports, per-run history, advice, and one typed event source.
 */
import type { EventEmitter } from 'node:events';
import type { ConcurrencyAdvice, ContainerHealth, HealthAlert, HealthReport, ResourcePeak, ResourceSample } from './monitor-types.js';

export interface MonitorEvents {
  /** A published sample (at most one per container per sample interval). */
  sample: [sample: ResourceSample];
  /** An alert raised, or the same alert resolved (then `resolvedAt` is set). */
  alert: [alert: HealthAlert];
  /** The periodic health check's report. */
  'health-check': [report: HealthReport];
  /** Autoscaling moved the queue's limit (published here by the ConcurrencyAutoscaler, when it is on). */
  'concurrency-adjusted': [event: { readonly from: number; readonly to: number; readonly reason: string }];
}

export interface SampleQuery {
  readonly runId?: string | null;
  readonly containerId?: string | null;
  /** Only the last N samples. */
  readonly last?: number | null;
}

export interface MonitorService {
  readonly events: EventEmitter<MonitorEvents>;
  generateReport(): Promise<HealthReport>;
  checkContainerHealth(containerId: string): ContainerHealth | undefined;
  /** Samples kept in the history window, oldest first. */
  samples(query: SampleQuery): Promise<readonly ResourceSample[]>;
  /** Every alert of a run, raised and resolved, oldest first. */
  alertsForAgent(runId: string): Promise<readonly HealthAlert[]>;
  peakForAgent(runId: string): Promise<ResourcePeak | undefined>;
  concurrencyAdvice(): Promise<ConcurrencyAdvice>;
}
