import { describe, expect, it } from 'vitest';
import {
  logFromColumns,
  RUN_CHANGE_COLUMNS,
  RUN_COLUMNS,
  runFromColumns,
  runToColumns,
  type ColumnReader,
  type ColumnWriter,
} from '../../../src/store/shared/run-rows.js';
import { makeRun } from '../../helpers/fixtures.js';

/** A database that keeps JSON as text, instants as milliseconds and flags as 0/1 (SQLite's way). */
const write: ColumnWriter<string, number, number> = { json: (v) => JSON.stringify(v), time: (at) => at.getTime(), flag: (v) => (v ? 1 : 0) };
const read: ColumnReader<string, number, number> = { json: (v) => JSON.parse(v) as unknown, time: (ms) => new Date(ms), flag: (v) => v === 1 };

describe('run rows', () => {
  const run = makeRun({
    id: 'r',
    status: 'FAILED',
    failureReason: 'NON_ZERO_EXIT',
    error: 'exit 2',
    containerId: 'c1',
    exitCode: 2,
    steps: [
      { index: 1, command: 'make', exitCode: 0, startedAt: new Date('2026-01-01T00:00:02Z'), finishedAt: new Date('2026-01-01T00:00:03Z') },
      { index: 2, command: 'make test', exitCode: null, startedAt: new Date('2026-01-01T00:00:04Z'), finishedAt: null },
    ],
    startedAt: new Date('2026-01-01T00:00:01Z'),
    finishedAt: new Date('2026-01-01T00:00:05Z'),
    retryOf: 'r0',
    warmStart: true,
  });

  it('maps a run to its columns in the form of the database and back to the same frozen snapshot', () => {
    const row = runToColumns(run, write);
    expect(row).toMatchObject({ group_id: 'group-1', queued_at: run.queuedAt.getTime(), finished_at: run.finishedAt!.getTime(), warm_start: 1 });
    expect(typeof row.steps_json).toBe('string');
    const back = runFromColumns(row, read);
    expect(back).toEqual(run);
    expect(back.steps[0]!.startedAt).toBeInstanceOf(Date);
    expect(Object.isFrozen(back)).toBe(true);
    // Unset instants stay null both ways; a cold start reads as such.
    const queued = makeRun({ id: 'q' });
    expect(runFromColumns(runToColumns(queued, write), read)).toEqual(queued);
    expect(runToColumns(queued, write)).toMatchObject({ started_at: null, finished_at: null, warm_start: 0 });
  });

  it('names every column of the row once, a change being a subset that starts with the id', () => {
    const row = runToColumns(run, write);
    expect([...RUN_COLUMNS].sort()).toEqual(Object.keys(row).sort());
    expect(RUN_CHANGE_COLUMNS[0]).toBe('id');
    expect(RUN_CHANGE_COLUMNS.filter((c) => !RUN_COLUMNS.includes(c))).toEqual([]);
    // What a run keeps from its admission is never part of a change.
    expect(RUN_CHANGE_COLUMNS).not.toContain('group_json');
    expect(RUN_CHANGE_COLUMNS).not.toContain('queued_at');
  });

  it('reads a log row into a frozen line', () => {
    const line = logFromColumns({ run_id: 'r', seq: 3, stream: 'STDERR', step: null, line: 'x', at: 1_000 }, (ms) => new Date(ms));
    expect(line).toEqual({ runId: 'r', seq: 3, stream: 'STDERR', step: null, line: 'x', at: new Date(1_000) });
    expect(Object.isFrozen(line)).toBe(true);
  });
});
