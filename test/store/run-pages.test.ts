/**
 * Pages of runs by keyset, newest first: stable while runs are recorded between pages, filtered
 * by status and group, counted, and right while run changes wait for a store that cannot write.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AgentRun } from '../../src/runs/agent-run.js';
import type { RunFilter } from '../../src/runs/run-store.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { StoreHealth } from '../../src/store/store-health.js';
import { makeRun } from '../helpers/fixtures.js';
import { createTestLogger } from '../helpers/test-logger.js';

const ids = (page: { runs: readonly { run: AgentRun }[] }): string[] => page.runs.map(({ run }) => run.id);

/** Every run of `filter`, page by page of `first`, starting each page after the last key of the previous one. */
async function pageThrough(store: SqliteRunStore, filter: RunFilter, first: number, between?: (page: number) => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  let after: number | undefined;
  for (let page = 0; page < 1000; page += 1) {
    const result = await store.page(filter, first, after);
    seen.push(...ids(result));
    expect(result.runs.length).toBeLessThanOrEqual(first);
    if (!result.hasNextPage) return seen;
    after = result.runs.at(-1)?.key;
    await between?.(page);
  }
  throw new Error('too many pages');
}

describe('pages of runs', () => {
  it('goes newest first, page by page, with hasNextPage and hasPreviousPage', async () => {
    const store = new SqliteRunStore(openDatabase(':memory:'), { logLinesPerRun: 100 });
    for (let n = 1; n <= 5; n += 1) await store.insert(makeRun({ id: `r${n}` }));
    const first = await store.page({}, 2);
    expect(ids(first)).toEqual(['r5', 'r4']);
    expect(first).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    const second = await store.page({}, 2, first.runs.at(-1)?.key);
    expect(ids(second)).toEqual(['r3', 'r2']);
    expect(second).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    const last = await store.page({}, 2, second.runs.at(-1)?.key);
    expect(ids(last)).toEqual(['r1']);
    expect(last).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    expect(await store.page({}, 10)).toMatchObject({ hasNextPage: false, hasPreviousPage: false });
    expect(await store.count({})).toBe(5);
  });

  it('neither skips nor repeats a run while runs are recorded between pages', async () => {
    const store = new SqliteRunStore(openDatabase(':memory:'), { logLinesPerRun: 100 });
    for (let n = 1; n <= 23; n += 1) await store.insert(makeRun({ id: `old-${n}` }));
    let added = 0;
    const seen = await pageThrough(store, {}, 5, async () => {
      for (let k = 0; k < 3; k += 1) await store.insert(makeRun({ id: `new-${(added += 1)}` }));
    });
    expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => `old-${23 - i}`));
    expect(await store.count({})).toBe(23 + added);
  });

  it('keeps a cursor valid after the run it names is pruned', async () => {
    const store = new SqliteRunStore(openDatabase(':memory:'), { logLinesPerRun: 100 });
    const now = Date.parse('2026-03-01T00:00:00Z');
    for (const [n, daysAgo] of [10, 9, 8, 1].entries()) {
      const at = new Date(now - daysAgo * 24 * 3_600_000);
      await store.insert(makeRun({ id: `r${n + 1}`, status: 'SUCCEEDED', queuedAt: at, startedAt: at, finishedAt: at }));
    }
    const first = await store.page({}, 2);
    expect(ids(first)).toEqual(['r4', 'r3']);
    // r3 and older are past the 7-day limit.
    expect(store.prune({ maxFinishedRuns: 100, maxAgeMs: 7 * 24 * 3_600_000 }, now)).toBe(3);
    expect(ids(await store.page({}, 2, first.runs.at(-1)?.key))).toEqual([]);
    expect((await store.page({}, 2, first.runs.at(-1)?.key)).hasPreviousPage).toBe(true);
  });

  it('filters by status and by group, alone and together, and counts the same', async () => {
    const store = new SqliteRunStore(openDatabase(':memory:'), { logLinesPerRun: 100 });
    const group = (id: string) => ({ id, name: id, runIds: [] });
    await store.insert(makeRun({ id: 'a1', group: group('a') }));
    await store.insert(makeRun({ id: 'b1', group: group('b'), status: 'RUNNING' }));
    await store.insert(makeRun({ id: 'a2', group: group('a'), status: 'RUNNING' }));
    await store.insert(makeRun({ id: 'a3', group: group('a') }));
    const running: RunFilter = { status: new Set(['RUNNING']) };
    expect(await pageThrough(store, { groupId: 'a' }, 1)).toEqual(['a3', 'a2', 'a1']);
    expect(await pageThrough(store, running, 1)).toEqual(['a2', 'b1']);
    expect(await pageThrough(store, { ...running, groupId: 'a' }, 1)).toEqual(['a2']);
    expect(await pageThrough(store, { status: new Set(['QUEUED', 'RUNNING']), groupId: 'b' }, 10)).toEqual(['b1']);
    expect(await store.count({ groupId: 'a' })).toBe(3);
    expect(await store.count(running)).toBe(2);
    expect(await store.count({ ...running, groupId: 'b' })).toBe(1);
    expect(await store.count({ groupId: 'none' })).toBe(0);
  });
});

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
