import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { SqliteHistoryStore } from '../../src/store/sqlite-history-store.js';
import { StoreHealth } from '../../src/store/store-health.js';
import { createTestLogger } from '../helpers/test-logger.js';
import { MEMORY_ALERT, sample } from './contract/history-contract.js';

describe('SqliteHistoryStore when the database cannot write', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps samples and alerts that fail to write, reads the alerts, and writes both once it can', async () => {
    const db = openDatabase(':memory:');
    const health = new StoreHealth({ logger: createTestLogger() });
    const history = new SqliteHistoryStore(db, { sampleRetentionMs: 3_600_000, liveWindowMs: 60_000, health });
    db.exec("CREATE TEMP TRIGGER full_samples BEFORE INSERT ON samples BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
    db.exec("CREATE TEMP TRIGGER full_alerts BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
    const alert = MEMORY_ALERT;
    for (let i = 0; i < 3; i += 1) history.recordSample(sample('c', 'r', 1000 * i, i));
    expect(() => history.recordAlert(alert)).not.toThrow();
    expect(() => vi.advanceTimersByTime(250)).not.toThrow();
    vi.advanceTimersByTime(300);
    expect(health.report()).toMatchObject({ status: 'DEGRADED' });
    expect(health.report().error).toContain('samples: database or disk is full');
    expect(health.report().error).toContain('alerts: database or disk is full');
    const resolved = { ...alert, resolvedAt: new Date('2026-01-01T00:01:00Z') };
    history.recordAlert(resolved);
    expect(await history.alerts('r')).toEqual([resolved]);
    // Nothing is pruned while samples wait.
    history.prune(Date.parse('2030-01-01T00:00:00Z'));

    db.exec('DROP TRIGGER full_samples');
    db.exec('DROP TRIGGER full_alerts');
    vi.advanceTimersByTime(5000);
    expect(health.report().status).toBe('OK');
    expect((await history.samples({ runId: 'r' })).map((s) => s.cpuPercent)).toEqual([0, 1, 2]);
    expect((db.prepare('SELECT count(*) AS n FROM alerts').get() as { n: number }).n).toBe(1);
    expect(await history.alerts('r')).toEqual([resolved]);
  });
});
