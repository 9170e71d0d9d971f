/**
 * Pages of runs while run changes wait for a store that cannot write (SQLite-specific: the fault
 * is a real SQLite trigger). Paging itself (order, cursors, filters, counts, prune) is in the
 * RunStore contract (test/store/contract/run-store-contract.ts), run against SQLite too.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunFilter } from '../../src/runs/run-store.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { StoreHealth } from '../../src/store/store-health.js';
import { makeRun } from '../helpers/fixtures.js';
import { createTestLogger } from '../helpers/test-logger.js';
import { ids, pageThrough } from './contract/run-store-contract.js';

describe('pages of runs while run changes wait for the store', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('filter and count by the waiting snapshots, and stay full', async () => {
    const db = openDatabase(':memory:');
    const store = new SqliteRunStore(db, { logLinesPerRun: 100, health: new StoreHealth({ logger: createTestLogger() }) });
    const runs = Array.from({ length: 6 }, (_, n) => makeRun({ id: `r${n + 1}` }));
    for (const run of runs) await store.insert(run);
    db.exec("CREATE TEMP TRIGGER no_updates BEFORE UPDATE ON runs BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
    // r5 and r6 are running now, but their rows still say QUEUED.
    for (const run of runs.slice(4)) store.update({ ...run, status: 'RUNNING', startedAt: new Date() });
    vi.advanceTimersByTime(300);
    expect(store.writeFault()).toBe('run changes: database or disk is full');
    const queued: RunFilter = { status: new Set(['QUEUED']) };
    const page = await store.page(queued, 2);
    expect(ids(page)).toEqual(['r4', 'r3']);
    expect(page.hasNextPage).toBe(true);
    expect(await pageThrough(store, queued, 2)).toEqual(['r4', 'r3', 'r2', 'r1']);
    expect(await pageThrough(store, { status: new Set(['RUNNING']) }, 1)).toEqual(['r6', 'r5']);
    expect(await store.count(queued)).toBe(4);
    expect(await store.count({ status: new Set(['RUNNING']) })).toBe(2);
    expect((await store.page({ status: new Set(['RUNNING']) }, 5)).runs.map(({ run }) => run.status)).toEqual(['RUNNING', 'RUNNING']);
  });
});
