/**
 * The monitor's data: samples, grades, alerts, reports and advice. Plain data, no I/O.
 */
import type { ResourceThresholds } from '../config.js';
import type { ResourceStats } from '../sandbox/resource-stats.js';
import type { MonitorSource } from './stats-sampler.js';

export type { MonitorSource } from './stats-sampler.js';

export type HealthLevel = 'HEALTHY' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';
export type AlertLevel = 'WARNING' | 'CRITICAL';
export type ResourceMetric = 'CPU' | 'MEMORY' | 'PIDS';

/** One published sample of a monitored container. */
export interface ResourceSample extends ResourceStats {
  readonly containerId: string;
  /** The run the container belongs to; null for containers bosun did not start. */
  readonly runId: string | null;
}

/**
 * An alert raised when a metric stayed at or above a threshold for the configured number of
 * samples. The same alert, with `resolvedAt` set, is published again when the episode recovers.
 */
export interface HealthAlert {
  readonly id: string;
  readonly level: AlertLevel;
  readonly metric: ResourceMetric;
  /**
   * The graded figure: for CPU, the percentage of the container's CPU limit when the monitor knows
   * it, otherwise `docker stats`' figure (100 = one CPU); for PIDs, the percentage of the pids
   * limit, or the process count when the count thresholds raised it; `message` says which.
   */
  readonly value: number;
  readonly threshold: number;
  readonly containerId: string;
  readonly runId: string | null;
  readonly at: Date;
  readonly message: string;
  readonly resolvedAt: Date | null;
}

/** The highest values a run's container reached. */
export interface ResourcePeak {
  readonly cpuPercent: number;
  readonly memoryBytes: number;
  readonly pids: number;
}

export interface ContainerHealth {
  readonly containerId: string;
  readonly name: string;
  readonly runId: string | null;
  readonly level: HealthLevel;
  /** What reads this container's figures. */
  readonly monitorSource: MonitorSource;
  readonly latest: ResourceSample | null;
  /** Unresolved alerts. */
  readonly alerts: readonly HealthAlert[];
  readonly checkedAt: Date | null;
}

export interface HealthOverall {
  readonly totalContainers: number;
  readonly healthyContainers: number;
  readonly warningContainers: number;
  readonly criticalContainers: number;
  /** warning + critical. */
  readonly unhealthyContainers: number;
  readonly avgCpuPercent: number;
  readonly avgMemoryPercent: number;
}

export interface DockerEngineHealth {
  readonly reachable: boolean;
  readonly version: string | null;
  readonly error: string | null;
}

export interface HealthReport {
  readonly generatedAt: Date;
  readonly docker: DockerEngineHealth;
  /**
   * How the monitor reads containers' figures: their cgroup files, when bosun shares the engine's
   * host (a container whose files it cannot find still gets the engine's stream), or the engine's
   * stats streams.
   */
  readonly monitorSource: MonitorSource;
  readonly overall: HealthOverall;
  readonly containers: readonly ContainerHealth[];
  readonly thresholds: ResourceThresholds;
}

export interface ConcurrencyAdvice {
  readonly current: number;
  /** 1 to 4. */
  readonly recommended: number;
  readonly canIncrease: boolean;
  /** One sentence on why, for people. */
  readonly reason: string;
}

/** The host's capacity as the Docker engine reports it (`docker info`). */
export interface HostCapacity {
  readonly cpus: number;
  readonly memoryBytes: number;
}
