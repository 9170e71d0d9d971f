/**
 * What every monitoring history store keeps alike, whatever its database: how samples and alerts
 * wait for the store and how many may, the resolution samples are thinned to, how a batch raises
 * its runs' peaks, and how rows read back into samples, peaks and alerts. The SQL that stores,
 * thins and reads them stays with each database.
 */
import type { HealthAlert, ResourcePeak, ResourceSample } from '../../monitor/monitor-types.js';
import type { StoreHealth } from '../store-health.js';

/** Resolution of samples older than the live window. */
export const DOWNSAMPLED_INTERVAL_MS = 60_000;
/** Alerts (one per id) that may wait while the store cannot write. */
const ALERT_PENDING_MAX = 1_000;

/**
 * How samples wait for the store: in batches of 256, at most 10,000 while it cannot write (later
 * ones are dropped and counted). Frames of different containers arrive on different ticks:
 * gathering them for a quarter second makes one transaction of many instead of one per frame.
 * Reads flush first, so nothing is missed.
 */
export const SAMPLE_WRITES = { what: 'samples', batchSize: 256, maxPending: 10_000, delayMs: 250 } as const;

/** How alerts wait for the store: the newest state of each (by id), written as they happen. */
export const ALERT_WRITES = {
  what: 'alerts',
  batchSize: 64,
  maxPending: ALERT_PENDING_MAX,
  keyOf: (alert: HealthAlert): string => alert.id,
} as const;

/** What every history store is given. */
export interface HistoryStoreOptions {
  /** Samples older than this are deleted. */
  readonly sampleRetentionMs: number;
  /** Samples younger than this are kept at full resolution. */
  readonly liveWindowMs: number;
  /** Retries failed writes and reports the store's health; shared by every store on the database. Default: its own, silent. */
  readonly health?: StoreHealth;
}

/** The alerts waiting for the store, as both write-behinds show them. */
interface WaitingAlerts {
  readonly size: number;
  get(id: string): HealthAlert | undefined;
}

/**
 * Whether an alert may wait for the store: a newer state of a waiting one always may (it takes
 * its place); a new one while ALERT_PENDING_MAX wait may not, and is counted as dropped.
 */
export function admitAlert(waiting: WaitingAlerts, alert: HealthAlert, health: StoreHealth): boolean {
  if (waiting.size < ALERT_PENDING_MAX || waiting.get(alert.id) !== undefined) return true;
  health.dropped(ALERT_WRITES.what);
  return false;
}

/** A run's stored alerts overlaid by those waiting for the store (newer than their rows), in time order. */
export function withWaitingAlerts(stored: readonly HealthAlert[], waiting: readonly HealthAlert[], runId: string): HealthAlert[] {
  const mine = waiting.filter((alert) => alert.runId === runId);
  const ids = new Set(mine.map((alert) => alert.id));
  return [...stored.filter((alert) => !ids.has(alert.id)), ...mine].sort((a, b) => a.at.getTime() - b.at.getTime());
}

/** The highest of each run's samples in a batch: one upsert per run raises its stored peak. */
export function peaksOfBatch(batch: readonly ResourceSample[]): Map<string, ResourcePeak> {
  const peaks = new Map<string, ResourcePeak>();
  for (const s of batch) {
    if (s.runId === null) continue;
    const peak = peaks.get(s.runId);
    peaks.set(s.runId, {
      cpuPercent: Math.max(peak?.cpuPercent ?? s.cpuPercent, s.cpuPercent),
      memoryBytes: Math.max(peak?.memoryBytes ?? s.memoryUsageBytes, s.memoryUsageBytes),
      pids: Math.max(peak?.pids ?? s.pids, s.pids),
    });
  }
  return peaks;
}

/** A row of `samples`, its instant in the form of the database. */
export interface SampleColumns<Time> {
  run_id: string | null;
  container_id: string;
  at: Time;
  cpu_percent: number;
  memory_usage_bytes: number;
  memory_limit_bytes: number;
  memory_percent: number;
  pids: number;
  pids_limit: number | null;
}

export function sampleFromColumns<Time>(row: SampleColumns<Time>, readTime: (value: Time) => Date): ResourceSample {
  return {
    containerId: row.container_id,
    runId: row.run_id,
    at: readTime(row.at),
    cpuPercent: row.cpu_percent,
    memoryUsageBytes: row.memory_usage_bytes,
    memoryLimitBytes: row.memory_limit_bytes,
    memoryPercent: row.memory_percent,
    pids: row.pids,
    pidsLimit: row.pids_limit,
  };
}

/** A row of `peaks`. */
export interface PeakColumns {
  cpu_percent: number;
  memory_bytes: number;
  pids: number;
}

export function peakFromColumns(row: PeakColumns): ResourcePeak {
  return { cpuPercent: row.cpu_percent, memoryBytes: row.memory_bytes, pids: row.pids };
}

/** An alert as its JSON column holds it: its instants as ISO strings. */
export type StoredAlert = Omit<HealthAlert, 'at' | 'resolvedAt'> & { at: string; resolvedAt: string | null };

export function alertFromStored(raw: StoredAlert): HealthAlert {
  return { ...raw, at: new Date(raw.at), resolvedAt: raw.resolvedAt === null ? null : new Date(raw.resolvedAt) };
}
