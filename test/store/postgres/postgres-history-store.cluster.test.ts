/**
 * PostgresHistoryStore on a real PostgreSQL: the MonitorHistory contract (the cases
 * SqliteHistoryStore passes), then samples and alerts kept while PostgreSQL is away.
 */
import { describe, expect, it } from 'vitest';
import { PostgresHistoryStore } from '../../../src/store/postgres/postgres-history-store.js';
import { StoreHealth } from '../../../src/store/store-health.js';
import { createTestLogger } from '../../helpers/test-logger.js';
import { describeHistoryContract, MEMORY_ALERT } from '../contract/history-contract.js';
import { usePgTestDatabase } from './pg-test-database.js';

const pg = usePgTestDatabase();
const opened: PostgresHistoryStore[] = [];

async function emptyDatabase(): Promise<void> {
  for (const history of opened.splice(0)) await history.flush();
  await pg.empty();
}

describeHistoryContract('PostgresHistoryStore', async (options) => {
  await emptyDatabase();
  const history = new PostgresHistoryStore(pg.db, options);
  opened.push(history);
  return history;
});

describe('PostgresHistoryStore when PostgreSQL goes away', () => {
  it('keeps samples and alerts, reads the alerts from memory, and writes both once it is back', async () => {
    await emptyDatabase();
    const health = new StoreHealth({ logger: createTestLogger(), minRetryDelayMs: 50, maxRetryDelayMs: 250 });
    const history = new PostgresHistoryStore(pg.db, { sampleRetentionMs: 3_600_000, liveWindowMs: 60_000, health });
    opened.push(history);
    const alert = MEMORY_ALERT;
    history.recordAlert(alert);
    expect(await history.flush()).toBe(true);

    await pg.server.halt();
    for (let i = 0; i < 3; i += 1) {
      history.recordSample({
        containerId: 'c',
        runId: 'r',
        at: new Date(1000 * i),
        cpuPercent: i,
        memoryUsageBytes: 10,
        memoryLimitBytes: 100,
        memoryPercent: 10,
        pids: 1,
        pidsLimit: 100,
      });
    }
    const resolved = { ...alert, resolvedAt: new Date('2026-01-01T00:01:00Z') };
    history.recordAlert(resolved);
    expect(await history.flush()).toBe(false);
    expect(health.isFailing('samples') || health.isFailing('alerts')).toBe(true);

    await pg.server.restart();
    for (let i = 0; i < 400 && (health.isFailing('samples') || health.isFailing('alerts')); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(health.report().status).toBe('OK');
    expect((await history.samples({ runId: 'r' })).map((s) => s.cpuPercent)).toEqual([0, 1, 2]);
    expect(await history.alerts('r')).toEqual([resolved]);
    expect(await history.peak('r')).toEqual({ cpuPercent: 2, memoryBytes: 10, pids: 1 });
  });
});
