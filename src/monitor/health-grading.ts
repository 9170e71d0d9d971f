/**
 * Grading of one sample against the configured thresholds, per metric and overall.
 * Pure: no state, no I/O.
 *
 * Each metric is graded against the container's own limit where it has one:
 * - CPU: as a percentage of the container's CPU limit when it is known, otherwise on the raw
 *   `docker stats` figure (100 = one CPU);
 * - memory: as a percentage of the memory limit;
 * - pids: as a percentage of the container's pids limit (PIDS_*_PERCENT) when the sample carries
 *   one. The process-count thresholds (PIDS_WARNING / PIDS_CRITICAL) grade the count as well when
 *   they were configured (`pidsCountAlways`), and alone when the pids limit is unknown. When both
 *   apply, the worse grade counts (the percentage on a tie).
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
  /** The graded figure: a percentage, or for pids graded as a count, the count. */
  readonly value: number;
  readonly level: MetricLevel;
  /** The thresholds `value` was graded against. */
  readonly thresholds: MetricThresholds;
  /**
   * What `value` is a share of: the CPU limit in CPUs, or the pids limit in processes; null for
   * memory, for CPU without a known limit (then 100 = one CPU), and for a pids count.
   */
  readonly limit: number | null;
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
 * The raw value of `metric` in a sample: CPU %, memory % of the limit, or the pids count. CPU is
 * read against the container's CPU limit when `limitCpus` is known (see
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

/** Processes as a percentage of the container's pids limit. */
export function pidsPercentOfLimit(pids: number, pidsLimit: number): number {
  return (pids / pidsLimit) * 100;
}

/** Whether `pidsLimit` is a usable pids limit (a finite number above 0). */
export function isPidsLimit(pidsLimit: number | null | undefined): pidsLimit is number {
  return typeof pidsLimit === 'number' && Number.isFinite(pidsLimit) && pidsLimit > 0;
}

/** Whether `limitCpus` is a usable CPU limit (a finite number above 0). */
export function isCpuLimit(limitCpus: number | null | undefined): limitCpus is number {
  return typeof limitCpus === 'number' && Number.isFinite(limitCpus) && limitCpus > 0;
}

/** The thresholds of `metric`'s raw value (for pids, the process-count thresholds). */
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
 * Grades one metric of a sample against the container's limits, as this module's header says.
 * @param limitCpus the container's CPU limit, when known.
 */
export function gradeMetric(
  stats: ResourceStats,
  metric: ResourceMetric,
  thresholds: ResourceThresholds,
  limitCpus: number | null = null,
): MetricGrade {
  const graded = (value: number, against: MetricThresholds, limit: number | null): MetricGrade => ({
    metric,
    value,
    level: gradeValue(value, against),
    thresholds: against,
    limit,
  });
  switch (metric) {
    case 'CPU':
      return graded(metricValue(stats, 'CPU', limitCpus), metricThresholds(thresholds, 'CPU'), isCpuLimit(limitCpus) ? limitCpus : null);
    case 'MEMORY':
      return graded(stats.memoryPercent, metricThresholds(thresholds, 'MEMORY'), null);
    case 'PIDS': {
      const count = graded(stats.pids, metricThresholds(thresholds, 'PIDS'), null);
      if (!isPidsLimit(stats.pidsLimit)) return count;
      const percent = graded(
        pidsPercentOfLimit(stats.pids, stats.pidsLimit),
        { warning: thresholds.pidsPercentWarning, critical: thresholds.pidsPercentCritical },
        stats.pidsLimit,
      );
      return thresholds.pidsCountAlways && SEVERITY[count.level] > SEVERITY[percent.level] ? count : percent;
    }
  }
}

/**
 * Grades every metric of a sample; the level is the worst metric's, or UNKNOWN without a sample.
 * CPU is graded against `limitCpus` when it is known, pids against the sample's pids limit.
 */
export function gradeSample(stats: ResourceStats | null | undefined, thresholds: ResourceThresholds, limitCpus: number | null = null): SampleGrade {
  if (stats === null || stats === undefined) return { level: 'UNKNOWN', metrics: [] };
  const metrics = RESOURCE_METRICS.map((metric) => gradeMetric(stats, metric, thresholds, limitCpus));
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

/**
 * A value of `metric` for messages: "97.2%" for percentages, "960" for a pids count.
 * @param percent whether a pids value is a percentage of the pids limit rather than a count.
 */
export function formatMetricValue(metric: ResourceMetric, value: number, percent = metric !== 'PIDS'): string {
  const shown = String(Number(value.toFixed(1)));
  return percent ? `${shown}%` : shown;
}

/**
 * A graded value with what it is a share of, for alert messages: "98% of its 0.5-CPU limit" or
 * "97.2% of one CPU" for CPU (with and without a known limit); other metrics as {@link formatMetricValue}.
 */
export function describeMetricValue(metric: ResourceMetric, value: number, limitCpus: number | null = null): string {
  const shown = formatMetricValue(metric, value);
  switch (metric) {
    case 'CPU':
      return isCpuLimit(limitCpus) ? `${shown} of its ${String(Number(limitCpus.toFixed(2)))}-CPU limit` : `${shown} of one CPU`;
    case 'MEMORY':
    case 'PIDS':
      return shown;
  }
}

/**
 * A grade's value and threshold for alert messages: "98% of its 0.5-CPU limit" against "90%",
 * "85% of its 256-process limit" against "80%", "960" against "950".
 */
export function describeGrade(grade: MetricGrade, threshold: number): { value: string; threshold: string } {
  if (grade.metric !== 'PIDS') {
    return { value: describeMetricValue(grade.metric, grade.value, grade.limit), threshold: formatMetricValue(grade.metric, threshold) };
  }
  const percent = grade.limit !== null;
  const value = formatMetricValue('PIDS', grade.value, percent);
  return {
    value: percent ? `${value} of its ${grade.limit}-process limit` : value,
    threshold: formatMetricValue('PIDS', threshold, percent),
  };
}

/**
 * Checks that every threshold is a finite number, not negative, and that warning ≤ critical.
 * @throws InvalidValueError "Expected …, got …" naming the first bad field.
 */
export function validateThresholds(thresholds: ResourceThresholds): ResourceThresholds {
  const pairs: [label: string, thresholds: MetricThresholds][] = [
    ...RESOURCE_METRICS.map((metric): [string, MetricThresholds] => [metricLabel(metric), metricThresholds(thresholds, metric)]),
    ['PIDs %', { warning: thresholds.pidsPercentWarning, critical: thresholds.pidsPercentCritical }],
  ];
  for (const [label, { warning, critical }] of pairs) {
    for (const [kind, value] of [
      ['warning', warning],
      ['critical', critical],
    ] as const) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new InvalidValueError(`the ${label} ${kind} threshold to be a number of at least 0`, value);
      }
    }
    if (critical < warning) {
      throw new InvalidValueError(`the ${label} critical threshold to be at least its warning threshold ${warning}`, critical);
    }
  }
  if (typeof thresholds.pidsCountAlways !== 'boolean') {
    throw new InvalidValueError('pidsCountAlways to be true or false', thresholds.pidsCountAlways);
  }
  return thresholds;
}
