/**
 * The recorder keeps each live run's current snapshot in memory, so that recording a running run
 * never reads the (asynchronous) store, and a run leaves memory with its final status: from then
 * on it is read from the store. A real SQLite store; its `get` is watched to see who answered.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { BosunError } from '../../src/errors.js';
import { createSilentLogger } from '../../src/logger.js';
import type { AgentRun } from '../../src/runs/agent-run.js';
import { RunRecorder } from '../../src/runs/run-recorder.js';
import type { RunServiceEvents } from '../../src/runs/run-service.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { makeRun } from '../helpers/fixtures.js';

function setup() {
  const db = openDatabase(':memory:');
  const store = new SqliteRunStore(db, { logLinesPerRun: 100 });
  const events = new EventEmitter<RunServiceEvents>();
  const updates: AgentRun[] = [];
  events.on('run-updated', (run) => updates.push(run));
  const recorder = new RunRecorder(store, events, createSilentLogger());
  const storeReads = vi.spyOn(store, 'get');
  return { db, store, events, updates, recorder, storeReads };
}

describe('RunRecorder', () => {
  it('answers a live run from memory, at every change, without reading the store', async () => {
    const { recorder, storeReads, updates } = setup();
    await recorder.insert(makeRun({ id: 'r1' }));
    const running = recorder.patch('r1', { status: 'RUNNING', startedAt: new Date() });
    expect(recorder.current('r1')).toBe(running);
    expect(recorder.require('r1')).toBe(running);
    expect(await recorder.get('r1')).toBe(running);
    expect(await recorder.load('r1')).toBe(running);
    expect(storeReads).not.toHaveBeenCalled();
    expect(updates.map((run) => run.status)).toEqual(['QUEUED', 'RUNNING']);
  });

  it('reads a finished run from the store: it left memory with its final status', async () => {
    const { recorder, storeReads, db } = setup();
    await recorder.insert(makeRun({ id: 'r1' }));
    recorder.patch('r1', { status: 'RUNNING', startedAt: new Date() });
    recorder.finish('r1', 'SUCCEEDED', null, null, 0);

    expect(recorder.current('r1')).toBeUndefined();
    expect(() => recorder.require('r1')).toThrow(BosunError);
    const read = await recorder.get('r1');
    expect(storeReads).toHaveBeenCalledWith('r1');
    expect(read).toMatchObject({ id: 'r1', status: 'SUCCEEDED', exitCode: 0 });
    // What the store answered is what it holds (written through, not a copy kept aside).
    expect(db.prepare('SELECT status FROM runs WHERE id = ?').get('r1')).toEqual({ status: 'SUCCEEDED' });
  });

  it('keeps a final status: a later finish or patch of a run that is no longer live changes nothing', async () => {
    const { recorder, updates } = setup();
    await recorder.insert(makeRun({ id: 'r1' }));
    recorder.finish('r1', 'CANCELLED', null, 'cancelled while waiting in the queue');
    recorder.finish('r1', 'FAILED', 'INTERRUPTED', 'too late');
    expect(() => recorder.patch('r1', { status: 'RUNNING' })).toThrow(BosunError);
    expect(updates.map((run) => run.status)).toEqual(['QUEUED', 'CANCELLED']);
    expect(await recorder.get('r1')).toMatchObject({ status: 'CANCELLED' });
  });

  it('takes a stored unfinished run into memory to record it (recovery), and keeps a newer snapshot it already has', async () => {
    const { recorder, store, storeReads } = setup();
    await store.insert(makeRun({ id: 'stored', status: 'RUNNING' }));
    expect(recorder.current('stored')).toBeUndefined();
    const stored = await recorder.load('stored');
    expect(recorder.track(stored)).toBe(stored);
    recorder.finish('stored', 'FAILED', 'INTERRUPTED', 'the server stopped while the run was running');
    expect(recorder.current('stored')).toBeUndefined();
    expect(await store.get('stored')).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED' });

    await recorder.insert(makeRun({ id: 'live' }));
    const newer = recorder.patch('live', { status: 'RUNNING' });
    expect(recorder.track(makeRun({ id: 'live' }))).toBe(newer);
    // A final run is not taken in.
    recorder.track(makeRun({ id: 'done', status: 'SUCCEEDED' }));
    expect(recorder.current('done')).toBeUndefined();
    storeReads.mockClear();
    expect(await recorder.get('live')).toBe(newer);
    expect(storeReads).not.toHaveBeenCalled();
  });

  it('keeps nothing of a run whose insert fails, and announces nothing', async () => {
    const { recorder, updates } = setup();
    await recorder.insert(makeRun({ id: 'r1' }));
    // The same id again: the store refuses it.
    await expect(recorder.insert(makeRun({ id: 'r1', status: 'RUNNING' }))).rejects.toThrow();
    expect(recorder.current('r1')).toMatchObject({ status: 'QUEUED' });
    expect(updates).toHaveLength(1);
    await expect(recorder.load('unknown')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
