/**
 * The monitoring history of runs in SQLite: resource samples, alerts and per-run peaks, so a
 * run's timeline survives restarts. It is the monitor's one history (see {@link MonitorHistory}):
 * the monitor records into it as it publishes and reads timelines and peaks back from it.
 * Samples are written in batches; past the live window they are thinned to one per run per
 * minute, and past the retention they are deleted.
 */
/* eslint-disable @typescript-eslint/require-await -- better-sqlite3 answers at once; the reads are async so that a failure rejects, as MonitorHistory says */
import type { MonitorHistory } from '../monitor/monitor-history.js';
import type { HealthAlert, ResourcePeak, ResourceSample } from '../monitor/monitor-types.js';
import type { SampleQuery } from '../monitor/monitor-service.js';
import { checkInteger } from '../shared/validate.js';
import { createSilentLogger } from '../logger.js';
import type { SqliteDatabase } from './database.js';
import {
  ALERT_WRITES,
  alertFromStored,
  admitAlert,
  DOWNSAMPLED_INTERVAL_MS,
  peakFromColumns,
  peaksOfBatch,
  SAMPLE_WRITES,
  sampleFromColumns,
  withWaitingAlerts,
  type HistoryStoreOptions,
  type PeakColumns,
  type SampleColumns,
  type StoredAlert,
} from './shared/history-rules.js';
import { StoreHealth } from './store-health.js';
import { WriteBehind } from './write-behind.js';

export type SqliteHistoryStoreOptions = HistoryStoreOptions;

export class SqliteHistoryStore implements MonitorHistory {
  private readonly sampleWrites: WriteBehind<ResourceSample>;
  private readonly alertWrites: WriteBehind<HealthAlert>;
  private readonly health: StoreHealth;
  private readonly statements;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly options: SqliteHistoryStoreOptions,
  ) {
    this.statements = {
      insertSample: db.prepare(`INSERT INTO samples (run_id, container_id, at, cpu_percent, memory_usage_bytes,
        memory_limit_bytes, memory_percent, pids, pids_limit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      upsertPeak: db.prepare(`INSERT INTO peaks (run_id, cpu_percent, memory_bytes, pids) VALUES (?, ?, ?, ?)
        ON CONFLICT (run_id) DO UPDATE SET cpu_percent = max(cpu_percent, excluded.cpu_percent),
        memory_bytes = max(memory_bytes, excluded.memory_bytes), pids = max(pids, excluded.pids)`),
      upsertAlert: db.prepare(`INSERT INTO alerts (id, run_id, at, alert_json) VALUES (?, ?, ?, ?)
        ON CONFLICT (id) DO UPDATE SET alert_json = excluded.alert_json`),
      samplesOfRun: db.prepare('SELECT * FROM samples WHERE run_id = ? ORDER BY at ASC, rowid ASC'),
      lastSamplesOfRun: db.prepare(
        'SELECT * FROM (SELECT rowid AS r, * FROM samples WHERE run_id = ? ORDER BY at DESC, rowid DESC LIMIT ?) ORDER BY at ASC, r ASC',
      ),
      samplesOfRunInContainer: db.prepare('SELECT * FROM samples WHERE run_id = ? AND container_id = ? ORDER BY at ASC, rowid ASC'),
      lastSamplesOfRunInContainer: db.prepare(
        'SELECT * FROM (SELECT rowid AS r, * FROM samples WHERE run_id = ? AND container_id = ? ORDER BY at DESC, rowid DESC LIMIT ?) ORDER BY at ASC, r ASC',
      ),
      samplesOfContainer: db.prepare('SELECT * FROM samples WHERE container_id = ? ORDER BY at ASC, rowid ASC'),
      lastSamplesOfContainer: db.prepare(
        'SELECT * FROM (SELECT rowid AS r, * FROM samples WHERE container_id = ? ORDER BY at DESC, rowid DESC LIMIT ?) ORDER BY at ASC, r ASC',
      ),
      alertsOfRun: db.prepare('SELECT alert_json FROM alerts WHERE run_id = ? ORDER BY at ASC'),
      peakOfRun: db.prepare('SELECT cpu_percent, memory_bytes, pids FROM peaks WHERE run_id = ?'),
      // The running runs' peaks, then those of the other runs sampled most recently. Each run's
      // last sample is one seek in samples_run, so the cost follows the runs kept, not the
      // samples. `running` is a JSON array of run ids.
      recentPeaks: db.prepare(`SELECT cpu_percent, memory_bytes, pids FROM peaks
        WHERE run_id IN (SELECT value FROM json_each(@running))
        UNION ALL
        SELECT cpu_percent, memory_bytes, pids FROM (
          SELECT * FROM (
            SELECT p.cpu_percent, p.memory_bytes, p.pids, (SELECT max(at) FROM samples s WHERE s.run_id = p.run_id) AS last_at
            FROM peaks p WHERE p.run_id NOT IN (SELECT value FROM json_each(@running))
          ) WHERE last_at IS NOT NULL ORDER BY last_at DESC LIMIT @finished
        )`),
      deleteOldSamples: db.prepare('DELETE FROM samples WHERE at < ?'),
      downsample: db.prepare(`DELETE FROM samples WHERE at < @cutoff AND rowid NOT IN (
        SELECT min(rowid) FROM samples WHERE at < @cutoff GROUP BY run_id, container_id, CAST(at / @interval AS INTEGER))`),
      countSamples: db.prepare('SELECT count(*) AS n FROM samples'),
    };
    this.health = options.health ?? new StoreHealth({ logger: createSilentLogger() });
    this.sampleWrites = new WriteBehind<ResourceSample>({
      ...SAMPLE_WRITES,
      write: (batch) => this.writeSamples(batch),
      health: this.health,
      isOpen: () => db.open,
    });
    this.alertWrites = new WriteBehind<HealthAlert>({
      ...ALERT_WRITES,
      write: (batch) =>
        db.transaction(() => {
          for (const alert of batch) this.statements.upsertAlert.run(alert.id, alert.runId, alert.at.getTime(), JSON.stringify(alert));
        })(),
      health: this.health,
      isOpen: () => db.open,
    });
  }

  recordSample(sample: ResourceSample): void {
    if (!this.sampleWrites.push(sample)) this.health.dropped(SAMPLE_WRITES.what);
  }

  /** Stores an alert, or its resolution (same id): at once, or once the store writes again. */
  recordAlert(alert: HealthAlert): void {
    if (admitAlert(this.alertWrites, alert, this.health)) this.alertWrites.writeNow(alert);
  }

  /**
   * Writes buffered samples and alerts now. False when some could not be written: they stay in
   * memory, and the store's health retries them.
   */
  async flush(): Promise<boolean> {
    return this.flushNow();
  }

  /** {@link flush}, synchronously: what this store's own reads and pruning write first. */
  private flushNow(): boolean {
    const alerts = this.alertWrites.flush();
    return this.sampleWrites.flush() && alerts;
  }

  private writeSamples(batch: readonly ResourceSample[]): void {
    this.db.transaction(() => {
      for (const s of batch) {
        this.statements.insertSample.run(
          s.runId,
          s.containerId,
          s.at.getTime(),
          s.cpuPercent,
          s.memoryUsageBytes,
          s.memoryLimitBytes,
          s.memoryPercent,
          s.pids,
          s.pidsLimit,
        );
      }
      for (const [runId, peak] of peaksOfBatch(batch)) this.statements.upsertPeak.run(runId, peak.cpuPercent, peak.memoryBytes, peak.pids);
    })();
  }

  /** @throws InvalidValueError when `last` is not an integer of at least 0. */
  async samples(query: SampleQuery): Promise<ResourceSample[]> {
    const last = query.last ?? undefined;
    if (last !== undefined) checkInteger('last', last, { min: 0 });
    this.flushNow();
    let rows: SampleColumns<number>[];
    if (query.runId && query.containerId) {
      // Both filters in the query, so that LIMIT counts only the samples asked for.
      rows = (
        last === undefined
          ? this.statements.samplesOfRunInContainer.all(query.runId, query.containerId)
          : this.statements.lastSamplesOfRunInContainer.all(query.runId, query.containerId, last)
      ) as SampleColumns<number>[];
    } else if (query.runId) {
      rows = (
        last === undefined ? this.statements.samplesOfRun.all(query.runId) : this.statements.lastSamplesOfRun.all(query.runId, last)
      ) as SampleColumns<number>[];
    } else if (query.containerId) {
      rows = (
        last === undefined
          ? this.statements.samplesOfContainer.all(query.containerId)
          : this.statements.lastSamplesOfContainer.all(query.containerId, last)
      ) as SampleColumns<number>[];
    } else {
      return [];
    }
    return rows.map((row) => sampleFromColumns(row, (ms) => new Date(ms)));
  }

  async alerts(runId: string): Promise<HealthAlert[]> {
    const written = this.flushNow();
    const stored = (this.statements.alertsOfRun.all(runId) as { alert_json: string }[]).map((row) =>
      alertFromStored(JSON.parse(row.alert_json) as StoredAlert),
    );
    // Alerts (or resolutions) that wait for the store are newer than their rows.
    return written ? stored : withWaitingAlerts(stored, this.alertWrites.waiting(), runId);
  }

  async peak(runId: string): Promise<ResourcePeak | undefined> {
    this.flushNow();
    const row = this.statements.peakOfRun.get(runId) as PeakColumns | undefined;
    return row ? peakFromColumns(row) : undefined;
  }

  async recentPeaks(runningAgentIds: readonly string[], finishedLimit: number): Promise<ResourcePeak[]> {
    checkInteger('finishedLimit', finishedLimit, { min: 0 });
    this.flushNow();
    const rows = this.statements.recentPeaks.all({ running: JSON.stringify(runningAgentIds), finished: finishedLimit }) as PeakColumns[];
    return rows.map(peakFromColumns);
  }

  /** Thins samples past the live window and deletes those past the retention; nothing while samples wait for the store. */
  prune(now: number = Date.now()): void {
    if (!this.flushNow()) return;
    this.db.transaction(() => {
      this.statements.deleteOldSamples.run(now - this.options.sampleRetentionMs);
      this.statements.downsample.run({ cutoff: now - this.options.liveWindowMs, interval: DOWNSAMPLED_INTERVAL_MS });
    })();
  }

  sampleCount(): number {
    this.flushNow();
    return (this.statements.countSamples.get() as { n: number }).n;
  }
}
