/**
 * SqliteRunLog on its own: numbering, reading and trimming a run's log. What it does for a run
 * store (with failing writes and dropped lines) is tested through SqliteRunStore and the
 * RunStore contract.
 */
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunLog } from '../../src/store/sqlite-run-log.js';
import { StoreHealth } from '../../src/store/store-health.js';
import { createTestLogger } from '../helpers/test-logger.js';

function setup(logLinesPerRun: number) {
  const db = openDatabase(':memory:');
  // logs.run_id references runs: the rows a run store would have inserted.
  const insertRun = db.prepare(
    "INSERT INTO runs (id, status, group_json, config_json, steps_json, queued_at) VALUES (?, 'RUNNING', '{}', '{}', '[]', 0)",
  );
  const health = new StoreHealth({ logger: createTestLogger() });
  const log = new SqliteRunLog(db, { logLinesPerRun, health, writeFault: () => null });
  const stored = (runId: string) => (db.prepare('SELECT count(*) AS n FROM logs WHERE run_id = ?').get(runId) as { n: number }).n;
  return { db, log, insertRun, stored };
}

describe('SqliteRunLog', () => {
  it('numbers lines per run, and goes on from the stored ones once the run is no longer in memory', () => {
    const { log, insertRun } = setup(100);
    for (const id of ['a', 'b']) insertRun.run(id);
    log.started('a');
    expect([log.append('a', 'STDOUT', 1, 'x').seq, log.append('a', 'STDOUT', 1, 'y').seq, log.append('b', 'STDOUT', 1, 'z').seq]).toEqual([1, 2, 1]);
    log.finished('a');
    expect(log.append('a', 'SYSTEM', null, 'late').seq).toBe(3);
    expect(log.read('a').map((l) => [l.seq, l.stream, l.line])).toEqual([
      [1, 'STDOUT', 'x'],
      [2, 'STDOUT', 'y'],
      [3, 'SYSTEM', 'late'],
    ]);
    expect(log.flush()).toBe(true);
  });

  it('deletes the oldest lines in steps and never reads past the per-run limit', () => {
    const { log, insertRun, stored } = setup(10);
    insertRun.run('r');
    log.started('r');
    for (let i = 1; i <= 15; i += 1) log.append('r', 'STDOUT', 1, `line ${i}`);
    expect(log.read('r').map((l) => l.seq)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(log.read('r', 0, undefined, 2).map((l) => l.seq)).toEqual([6, 7]);
    expect(log.read('r', 12, 2).map((l) => l.seq)).toEqual([14, 15]);
    // A tenth more than the limit (11 lines) may stay; 15 may not.
    expect(stored('r')).toBeLessThanOrEqual(11);
  });
});
