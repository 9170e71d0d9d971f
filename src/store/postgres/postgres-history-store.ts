/**
 * The monitoring history in PostgreSQL (cluster mode), with the semantics of SqliteHistoryStore
 * behind the asynchronous MonitorHistory contract: resource samples, alerts and per-run peaks of
 * every node in one place, so any node answers for any run's timeline.
 *
 * Samples are gathered for a quarter second and written in batches (one multi-row INSERT, and
 * one upsert of the batch's peaks, per transaction); alerts are written as soon as possible, the
 * newest state of each. While PostgreSQL cannot write, both wait in memory (bounded; past the
 * bound they are dropped and counted), alerts are read from there, and the store's health
 * retries. Past the live window samples are thinned to one per run per minute, and past the
 * retention they are deleted, by one node at a time (an advisory lock).
 */
import type { HealthAlert, ResourcePeak, ResourceSample } from '../../monitor/monitor-types.js';
import type { SampleQuery } from '../../monitor/monitor-service.js';
import { checkInteger } from '../../shared/validate.js';
import { createSilentLogger } from '../../logger.js';
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
} from '../shared/history-rules.js';
import { StoreHealth } from '../store-health.js';
import { AsyncWriteBehind } from './async-write-behind.js';
import type { MonitorHistory } from '../../monitor/monitor-history.js';
import type { PostgresDatabase } from './pg-database.js';

const PRUNE_LOCK = 'prune-samples';

export type PostgresHistoryStoreOptions = HistoryStoreOptions;

export class PostgresHistoryStore implements MonitorHistory {
  private readonly sampleWrites: AsyncWriteBehind<ResourceSample>;
  private readonly alertWrites: AsyncWriteBehind<HealthAlert>;
  private readonly health: StoreHealth;

  constructor(
    private readonly db: PostgresDatabase,
    private readonly options: PostgresHistoryStoreOptions,
  ) {
    this.health = options.health ?? new StoreHealth({ logger: createSilentLogger() });
    this.sampleWrites = new AsyncWriteBehind<ResourceSample>({
      ...SAMPLE_WRITES,
      write: (batch) => this.writeSamples(batch),
      health: this.health,
      isOpen: () => db.open,
    });
    this.alertWrites = new AsyncWriteBehind<HealthAlert>({
      ...ALERT_WRITES,
      write: async (batch) => {
        await db.query(
          `INSERT INTO alerts (id, run_id, at, alert_json)
             SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::jsonb[])
           ON CONFLICT (id) DO UPDATE SET alert_json = excluded.alert_json`,
          [batch.map((a) => a.id), batch.map((a) => a.runId), batch.map((a) => a.at), batch.map((a) => JSON.stringify(a))],
        );
      },
      health: this.health,
      isOpen: () => db.open,
    });
  }

  recordSample(sample: ResourceSample): void {
    if (!this.sampleWrites.push(sample)) this.health.dropped(SAMPLE_WRITES.what);
  }

  /** Stores an alert, or its resolution (same id): as soon as possible, or once the store writes again. */
  recordAlert(alert: HealthAlert): void {
    if (admitAlert(this.alertWrites, alert, this.health)) this.alertWrites.writeSoon(alert);
  }

  /**
   * Writes buffered samples and alerts now. Resolves false when some could not be written: they
   * stay in memory, and the store's health retries them. Never rejects.
   */
  async flush(): Promise<boolean> {
    const [alerts, samples] = await Promise.all([this.alertWrites.flush(), this.sampleWrites.flush()]);
    return alerts && samples;
  }

  /** @throws InvalidValueError when `last` is not an integer of at least 0 (as a rejection). */
  async samples(query: SampleQuery): Promise<ResourceSample[]> {
    const last = query.last ?? undefined;
    if (last !== undefined) checkInteger('last', last, { min: 0 });
    const conditions: string[] = [];
    const params: unknown[] = [];
    // Both filters in the query, so that LIMIT counts only the samples asked for.
    if (query.runId) conditions.push(`run_id = $${params.push(query.runId)}`);
    if (query.containerId) conditions.push(`container_id = $${params.push(query.containerId)}`);
    if (conditions.length === 0) return [];
    await this.flush();
    const where = conditions.join(' AND ');
    const sql =
      last === undefined
        ? `SELECT * FROM samples WHERE ${where} ORDER BY at ASC, id ASC`
        : `SELECT * FROM (SELECT * FROM samples WHERE ${where} ORDER BY at DESC, id DESC LIMIT $${params.push(last)}) newest ORDER BY at ASC, id ASC`;
    const { rows } = await this.db.query<SampleColumns<Date>>(sql, params);
    return rows.map((row) => sampleFromColumns(row, (at) => at));
  }

  async alerts(runId: string): Promise<HealthAlert[]> {
    const written = await this.flush();
    const { rows } = await this.db.query<{ alert_json: StoredAlert }>('SELECT alert_json FROM alerts WHERE run_id = $1 ORDER BY at ASC', [runId]);
    const stored = rows.map((row) => alertFromStored(row.alert_json));
    // Alerts (or resolutions) that wait for the store are newer than their rows.
    return written ? stored : withWaitingAlerts(stored, this.alertWrites.waiting(), runId);
  }

  async peak(runId: string): Promise<ResourcePeak | undefined> {
    await this.flush();
    const { rows } = await this.db.query<PeakColumns>('SELECT cpu_percent, memory_bytes, pids FROM peaks WHERE run_id = $1', [runId]);
    return rows[0] ? peakFromColumns(rows[0]) : undefined;
  }

  /**
   * The peaks of the running runs, then those of the `finishedLimit` other runs sampled most
   * recently. Each run's last sample is one seek in samples_run, so the cost follows the runs
   * kept, not the samples.
   */
  async recentPeaks(runningAgentIds: readonly string[], finishedLimit: number): Promise<ResourcePeak[]> {
    checkInteger('finishedLimit', finishedLimit, { min: 0 });
    await this.flush();
    const { rows } = await this.db.query<PeakColumns>(
      `(SELECT cpu_percent, memory_bytes, pids FROM peaks WHERE run_id = ANY($1::text[]))
       UNION ALL
       (SELECT cpu_percent, memory_bytes, pids FROM (
          SELECT p.cpu_percent, p.memory_bytes, p.pids, (SELECT max(at) FROM samples s WHERE s.run_id = p.run_id) AS last_at
          FROM peaks p WHERE NOT (p.run_id = ANY($1::text[]))
        ) sampled WHERE last_at IS NOT NULL ORDER BY last_at DESC LIMIT $2)`,
      [[...runningAgentIds], finishedLimit],
    );
    return rows.map(peakFromColumns);
  }

  /**
   * Thins samples past the live window and deletes those past the retention; nothing while
   * samples wait for the store, or while another node prunes.
   */
  async prune(now: number = Date.now()): Promise<void> {
    if (!(await this.flush())) return;
    await this.db.tryWithAdvisoryLock(PRUNE_LOCK, () =>
      this.db.transaction(async (client) => {
        await client.query('DELETE FROM samples WHERE at < $1', [new Date(now - this.options.sampleRetentionMs)]);
        await client.query(
          `DELETE FROM samples WHERE at < $1 AND id NOT IN (
             SELECT min(id) FROM samples WHERE at < $1
             GROUP BY run_id, container_id, floor(extract(epoch FROM at) * 1000 / $2::bigint))`,
          [new Date(now - this.options.liveWindowMs), DOWNSAMPLED_INTERVAL_MS],
        );
      }),
    );
  }

  async sampleCount(): Promise<number> {
    await this.flush();
    const { rows } = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM samples');
    return rows[0]?.n ?? 0;
  }

  /** One batch: its samples in one INSERT, its runs' peaks raised in one upsert, in one transaction. */
  private async writeSamples(batch: readonly ResourceSample[]): Promise<void> {
    // One row per run in the upsert (a statement may not change a row twice): the batch's highest.
    const peaks = peaksOfBatch(batch);
    await this.db.transaction(async (client) => {
      await client.query(
        `INSERT INTO samples (run_id, container_id, at, cpu_percent, memory_usage_bytes, memory_limit_bytes, memory_percent, pids, pids_limit)
           SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[], $6::float8[], $7::float8[],
             $8::integer[], $9::integer[])`,
        [
          batch.map((s) => s.runId),
          batch.map((s) => s.containerId),
          batch.map((s) => s.at),
          batch.map((s) => s.cpuPercent),
          batch.map((s) => s.memoryUsageBytes),
          batch.map((s) => s.memoryLimitBytes),
          batch.map((s) => s.memoryPercent),
          batch.map((s) => s.pids),
          batch.map((s) => s.pidsLimit),
        ],
      );
      if (peaks.size === 0) return;
      const runs = [...peaks.keys()];
      const values = [...peaks.values()];
      await client.query(
        `INSERT INTO peaks (run_id, cpu_percent, memory_bytes, pids)
           SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[], $4::integer[])
         ON CONFLICT (run_id) DO UPDATE SET cpu_percent = greatest(peaks.cpu_percent, excluded.cpu_percent),
           memory_bytes = greatest(peaks.memory_bytes, excluded.memory_bytes), pids = greatest(peaks.pids, excluded.pids)`,
        [runs, values.map((p) => p.cpuPercent), values.map((p) => p.memoryBytes), values.map((p) => p.pids)],
      );
    });
  }
}
