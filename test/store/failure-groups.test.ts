/**
 * Failure groups kept by the run store: the name given last and the union of the CI run ids,
 * one row per group, gone with the last of its runs.
 */
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { makeRun } from '../helpers/fixtures.js';

function finished(id: string, group: { id: string; name: string; runIds: string[] }, finishedAt: Date) {
  return makeRun({ id, group, status: 'SUCCEEDED', queuedAt: finishedAt, startedAt: finishedAt, finishedAt, exitCode: 0 });
}

describe('failure groups in the run store', () => {
  it('keeps the name given last and every CI run id given, in the order first given, whichever run is read', async () => {
    const db = openDatabase(':memory:');
    const store = new SqliteRunStore(db, { logLinesPerRun: 100 });
    await store.insert(makeRun({ id: 'r1', group: { id: 'g', name: 'flaky login', runIds: ['ci-1', 'ci-2'] } }));
    expect(await store.group('g')).toEqual({ id: 'g', name: 'flaky login', runIds: ['ci-1', 'ci-2'] });
    await store.insert(makeRun({ id: 'r2', group: { id: 'g', name: 'login timeouts', runIds: ['ci-3', 'ci-1'] } }));
    await store.insert(makeRun({ id: 'other', group: { id: 'h', name: 'other', runIds: [] } }));
    expect(await store.group('g')).toEqual({ id: 'g', name: 'login timeouts', runIds: ['ci-1', 'ci-2', 'ci-3'] });
    expect(await store.group('h')).toEqual({ id: 'h', name: 'other', runIds: [] });
    expect(await store.group('nope')).toBeUndefined();
    // A run keeps the group as it was given; the group is what its runs gave together.
    expect((await store.get('r1'))?.group.name).toBe('flaky login');
    // Stored, not only cached: a new store on the same database reads the same.
    expect(await new SqliteRunStore(db, { logLinesPerRun: 100 }).group('g')).toEqual(await store.group('g'));
  });

  it('changes nothing of a group when its run cannot be inserted', async () => {
    const db = openDatabase(':memory:');
    const store = new SqliteRunStore(db, { logLinesPerRun: 100 });
    await store.insert(makeRun({ id: 'r1', group: { id: 'g', name: 'first', runIds: ['ci-1'] } }));
    // The same run id again: the insert fails after nothing else was kept.
    await expect(store.insert(makeRun({ id: 'r1', group: { id: 'g', name: 'second', runIds: ['ci-2'] } }))).rejects.toThrow();
    expect(await store.group('g')).toEqual({ id: 'g', name: 'first', runIds: ['ci-1'] });
    await expect(store.insert(makeRun({ id: 'r1', group: { id: 'new', name: 'new', runIds: [] } }))).rejects.toThrow();
    expect(await store.group('new')).toBeUndefined();
  });

  it('drops a group with the last of its runs when old runs are pruned, and keeps groups that still have runs', async () => {
    const store = new SqliteRunStore(openDatabase(':memory:'), { logLinesPerRun: 100 });
    const now = Date.parse('2026-03-01T00:00:00Z');
    const day = 24 * 3_600_000;
    await store.insert(finished('old-a', { id: 'a', name: 'a', runIds: [] }, new Date(now - 10 * day)));
    await store.insert(finished('old-b', { id: 'b', name: 'b old', runIds: ['ci-1'] }, new Date(now - 10 * day)));
    await store.insert(finished('new-b', { id: 'b', name: 'b', runIds: ['ci-2'] }, new Date(now - day)));
    expect((await store.group('a'))?.name).toBe('a');
    expect(store.prune({ maxFinishedRuns: 100, maxAgeMs: 7 * day }, now)).toBe(2);
    expect(await store.group('a')).toBeUndefined();
    expect(await store.group('b')).toEqual({ id: 'b', name: 'b', runIds: ['ci-1', 'ci-2'] });
    expect(await store.count({ groupId: 'b' })).toBe(1);
  });
});
