/**
 * Turns a stream of samples into alerts, one episode per (container, metric).
 *
 * An episode opens when a metric has been at or above its warning threshold for
 * `consecutiveSamples` samples in a row (a WARNING alert), or at or above its critical threshold
 * for as many (a CRITICAL alert). While the metric stays up nothing repeats; a rise from WARNING to
 * CRITICAL raises one more alert in the same episode. The episode recovers when the metric stays
 * below the warning threshold for `consecutiveSamples` samples in a row: every alert of the
 * episode is then published again with `resolvedAt` set.
 *
 * It keeps only open episodes: every alert it returns is the caller's to publish and record (a
 * run's alerts over time belong to the monitor's history).
 *
 * Each sample is graded as health-grading.ts says: CPU as a percentage of the container's CPU
 * limit when the caller knows it, otherwise as `docker stats`' raw figure (100 = one CPU); pids as
 * a percentage of the container's pids limit, and as a count where the count thresholds apply.
 * Each alert's value and threshold are those of the grade that raised it, and its message says
 * what they are a share of.
 */
import { randomUUID } from 'node:crypto';
import type { ResourceThresholds } from '../config.js';
import { RESOURCE_METRICS, describeGrade, gradeMetric, isAtLeast, metricLabel, validateThresholds, type MetricGrade } from './health-grading.js';
import type { AlertLevel, HealthAlert, ResourceMetric, ResourceSample } from './monitor-types.js';
import { checkInteger } from '../shared/validate.js';

export interface AlertTrackerOptions {
  readonly thresholds: ResourceThresholds;
  /** Samples in a row that raise an alert, and that recover it. At least 1. */
  readonly consecutiveSamples: number;
  /** Alert ids; default `randomUUID`. */
  readonly newId?: () => string;
}

interface Episode {
  atOrAboveWarning: number;
  atOrAboveCritical: number;
  belowWarning: number;
  /** The highest level alerted in this episode; null when no episode is open. */
  raised: AlertLevel | null;
  /** Alerts of the open episode, oldest first. */
  alerts: HealthAlert[];
}

export class AlertTracker {
  private readonly thresholds: ResourceThresholds;
  private readonly consecutiveSamples: number;
  private readonly newId: () => string;
  private readonly episodes = new Map<string, Map<ResourceMetric, Episode>>();

  /** @throws InvalidValueError for bad thresholds or counts. */
  constructor(options: AlertTrackerOptions) {
    this.thresholds = validateThresholds(options.thresholds);
    this.consecutiveSamples = checkInteger('consecutiveSamples', options.consecutiveSamples, { min: 1 });
    this.newId = options.newId ?? randomUUID;
  }

  /**
   * Feeds one sample. Returns the alerts this sample raised or resolved, in order; a resolved
   * alert is the raised one with `resolvedAt` set (same id).
   * @param limitCpus the container's CPU limit, when known: CPU is then graded as a percentage of it.
   */
  observe(sample: ResourceSample, limitCpus: number | null = null): HealthAlert[] {
    let episodes = this.episodes.get(sample.containerId);
    if (episodes === undefined) {
      episodes = new Map();
      this.episodes.set(sample.containerId, episodes);
    }
    const published: HealthAlert[] = [];
    for (const metric of RESOURCE_METRICS) {
      let episode = episodes.get(metric);
      if (episode === undefined) {
        episode = { atOrAboveWarning: 0, atOrAboveCritical: 0, belowWarning: 0, raised: null, alerts: [] };
        episodes.set(metric, episode);
      }
      published.push(...this.step(episode, sample, metric, limitCpus));
    }
    return published;
  }

  /** Unresolved alerts of a container, oldest first. */
  activeAlerts(containerId: string): readonly HealthAlert[] {
    const episodes = this.episodes.get(containerId);
    if (episodes === undefined) return [];
    const active = [...episodes.values()].flatMap((episode) => episode.alerts);
    return active.sort((a, b) => a.at.getTime() - b.at.getTime());
  }

  /**
   * Forgets a container that is gone. Its open episodes end with it: their alerts are returned
   * resolved at `at`, so that whoever was told about them hears that they are over.
   */
  closeContainer(containerId: string, at: Date): HealthAlert[] {
    const episodes = this.episodes.get(containerId);
    this.episodes.delete(containerId);
    if (episodes === undefined) return [];
    const resolved: HealthAlert[] = [];
    for (const episode of episodes.values()) resolved.push(...this.resolve(episode, at));
    return resolved;
  }

  private step(episode: Episode, sample: ResourceSample, metric: ResourceMetric, limitCpus: number | null): HealthAlert[] {
    const grade = gradeMetric(sample, metric, this.thresholds, limitCpus);
    const level = grade.level;
    const needed = this.consecutiveSamples;

    if (isAtLeast(level, 'WARNING')) {
      episode.atOrAboveWarning += 1;
      episode.belowWarning = 0;
    } else {
      episode.atOrAboveWarning = 0;
      episode.belowWarning += 1;
    }
    episode.atOrAboveCritical = level === 'CRITICAL' ? episode.atOrAboveCritical + 1 : 0;

    if (episode.atOrAboveCritical >= needed && episode.raised !== 'CRITICAL') {
      return [this.raise(episode, sample, grade, 'CRITICAL')];
    }
    if (episode.atOrAboveWarning >= needed && episode.raised === null) {
      return [this.raise(episode, sample, grade, 'WARNING')];
    }
    if (episode.belowWarning >= needed && episode.raised !== null) {
      return this.resolve(episode, sample.at);
    }
    return [];
  }

  private raise(episode: Episode, sample: ResourceSample, grade: MetricGrade, level: AlertLevel): HealthAlert {
    const count = this.consecutiveSamples;
    const threshold = level === 'CRITICAL' ? grade.thresholds.critical : grade.thresholds.warning;
    const shown = describeGrade(grade, threshold);
    const alert: HealthAlert = Object.freeze({
      id: this.newId(),
      level,
      metric: grade.metric,
      value: grade.value,
      threshold,
      containerId: sample.containerId,
      runId: sample.runId,
      at: sample.at,
      message:
        `${metricLabel(grade.metric)} at ${shown.value} ≥ ${level.toLowerCase()} ` +
        `${shown.threshold} for ${count} sample${count === 1 ? '' : 's'}`,
      resolvedAt: null,
    });
    episode.raised = level;
    episode.alerts.push(alert);
    return alert;
  }

  private resolve(episode: Episode, at: Date): HealthAlert[] {
    const resolved = episode.alerts.map((alert): HealthAlert => Object.freeze({ ...alert, resolvedAt: at }));
    episode.raised = null;
    episode.alerts = [];
    return resolved;
  }
}
