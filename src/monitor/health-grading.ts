/**
 * Grading of one sample against the configured thresholds, per metric and overall.
 * Pure: no state, no I/O.
 */
import type { ResourceThresholds } from '../config.js';
import { InvalidValueError } from '../errors.js';
import type { ResourceStats } from '../sandbox/resource-stats.js';
import type { AlertLevel, HealthLevel, ResourceMetric } from './monitor-types.js';

/** A metric's level: a sample always has one, so never UNKNOWN. */
export type MetricLevel = Exclude<HealthLevel, 'UNKNOWN'>;

/** The warning and critical thresholds of one metric. */
export interface MetricThresholds {
  readonly warning: number;
  readonly critical: number;
}

/** One metric of a sample, graded. */
export interface MetricGrade {
  readonly metric: ResourceMetric;
  readonly value: number;
  readonly level: MetricLevel;
  readonly thresholds: MetricThresholds;
}

/** A graded sample: the worst metric's level, and each metric's grade. */
export interface SampleGrade {
  readonly level: HealthLevel;
  /** In the order of {@link RESOURCE_METRICS}; empty when there was no sample. */
  readonly metrics: readonly MetricGrade[];
}

/** Every graded metric, in report order. */
export const RESOURCE_METRICS: readonly ResourceMetric[] = Object.freeze(['CPU', 'MEMORY', 'PIDS']);

const SEVERITY: Readonly<Record<MetricLevel, number>> = { HEALTHY: 0, WARNING: 1, CRITICAL: 2 };

/**
 * The value of `metric` in a sample, the figure that is graded: CPU %, memory % of the limit, or
 * the pids count. CPU is read against the container's CPU limit when `limitCpus` is known (see
 * {@link cpuPercentOfLimit}); without it, it is the raw `docker stats` figure (100 = one CPU).
 */
export function metricValue(stats: ResourceStats, metric: ResourceMetric, limitCpus: number | null = null): number {
  switch (metric) {
    case 'CPU':
      return isCpuLimit(limitCpus) ? cpuPercentOfLimit(stats.cpuPercent, limitCpus) : stats.cpuPercent;
    case 'MEMORY':
      return stats.memoryPercent;
    case 'PIDS':
      return stats.pids;
  }
}

/**
 * CPU use as a percentage of the container's CPU limit: `cpuPercent` is `docker stats`' figure
 * (100 = one full CPU), so a 0.5-CPU container pegged at its quota (50) reads 100, and a 4-CPU
 * container using one CPU (100) reads 25.
 */
export function cpuPercentOfLimit(cpuPercent: number, limitCpus: number): number {
  return cpuPercent / limitCpus;
}

/** Whether `limitCpus` is a usable CPU limit (a finite number above 0). */
export function isCpuLimit(limitCpus: number | null | undefined): limitCpus is number {
  return typeof limitCpus === 'number' && Number.isFinite(limitCpus) && limitCpus > 0;
}

/** The thresholds that apply to `metric`. */
export function metricThresholds(thresholds: ResourceThresholds, metric: ResourceMetric): MetricThresholds {
  switch (metric) {
    case 'CPU':
      return { warning: thresholds.cpuPercentWarning, critical: thresholds.cpuPercentCritical };
    case 'MEMORY':
      return { warning: thresholds.memoryPercentWarning, critical: thresholds.memoryPercentCritical };
    case 'PIDS':
      return { warning: thresholds.pidsWarning, critical: thresholds.pidsCritical };
  }
}

/** A value against a metric's thresholds; reaching a threshold counts as crossing it. */
export function gradeValue(value: number, thresholds: MetricThresholds): MetricLevel {
  if (value >= thresholds.critical) return 'CRITICAL';
  if (value >= thresholds.warning) return 'WARNING';
  return 'HEALTHY';
}

/**
 * Grades every metric of a sample; the level is the worst metric's, or UNKNOWN without a sample.
 * CPU is graded against `limitCpus` when it is known (see {@link metricValue}).
 */
export function gradeSample(
  stats: ResourceStats | null | undefined,
  thresholds: ResourceThresholds,
  limitCpus: number | null = null,
): SampleGrade {
  if (stats === null || stats === undefined) return { level: 'UNKNOWN', metrics: [] };
  const metrics = RESOURCE_METRICS.map((metric): MetricGrade => {
    const limits = metricThresholds(thresholds, metric);
    const value = metricValue(stats, metric, limitCpus);
    return { metric, value, level: gradeValue(value, limits), thresholds: limits };
  });
  return { level: worstLevel(metrics.map((grade) => grade.level)), metrics };
}

/** The most severe of some metric levels; HEALTHY for none. */
export function worstLevel(levels: Iterable<MetricLevel>): MetricLevel {
  let worst: MetricLevel = 'HEALTHY';
  for (const level of levels) if (SEVERITY[level] > SEVERITY[worst]) worst = level;
  return worst;
}

/** Whether `level` is at least as severe as `than`. */
export function isAtLeast(level: MetricLevel, than: AlertLevel): boolean {
  return SEVERITY[level] >= SEVERITY[than];
}

/** The metric's name as people read it in alert messages. */
export function metricLabel(metric: ResourceMetric): string {
  switch (metric) {
    case 'CPU':
      return 'CPU';
    case 'MEMORY':
      return 'Memory';
    case 'PIDS':
      return 'PIDs';
  }
}

/** A value of `metric` for messages: "97.2%" for percentages, "960" for pids. */
export function formatMetricValue(metric: ResourceMetric, value: number): string {
  const shown = String(Number(value.toFixed(1)));
  return metric === 'PIDS' ? shown : `${shown}%`;
}

/**
 * A graded value with what it is a share of, for alert messages: "98% of its 0.5-CPU limit" or
 * "97.2% of one CPU" for CPU (with and without a known limit); other metrics as {@link formatMetricValue}.
 */
export function describeMetricValue(metric: ResourceMetric, value: number, limitCpus: number | null = null): string {
  const shown = formatMetricValue(metric, value);
  switch (metric) {
    case 'CPU':
      return isCpuLimit(limitCpus)
        ? `${shown} of its ${String(Number(limitCpus.toFixed(2)))}-CPU limit`
        : `${shown} of one CPU`;
    case 'MEMORY':
    case 'PIDS':
      return shown;
  }
}

/**
 * Checks that every threshold is a finite number, not negative, and that warning ≤ critical.
 * @throws InvalidValueError "Expected …, got …" naming the first bad field.
 */
export function validateThresholds(thresholds: ResourceThresholds): ResourceThresholds {
  for (const metric of RESOURCE_METRICS) {
    const { warning, critical } = metricThresholds(thresholds, metric);
    for (const [kind, value] of [['warning', warning], ['critical', critical]] as const) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new InvalidValueError(`the ${metricLabel(metric)} ${kind} threshold to be a number of at least 0`, value);
      }
    }
    if (critical < warning) {
      throw new InvalidValueError(
        `the ${metricLabel(metric)} critical threshold to be at least its warning threshold ${warning}`,
        critical,
      );
    }
  }
  return thresholds;
}
