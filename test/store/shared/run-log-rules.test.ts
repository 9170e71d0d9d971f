import { describe, expect, it } from 'vitest';
import {
  LOG_WRITES,
  LogDrops,
  logLineWeight,
  logTrimThrough,
  mergeBySeq,
  RUN_CHANGE_WRITES,
  withinLogLimit,
} from '../../../src/store/shared/run-log-rules.js';
import { StoreHealth } from '../../../src/store/store-health.js';
import { makeLogLine, makeRun } from '../../helpers/fixtures.js';
import { createTestLogger } from '../../helpers/test-logger.js';

const seqs = (lines: readonly { seq: number }[]) => lines.map((l) => l.seq);
const lines = (from: number, to: number, runId = 'r') => Array.from({ length: to - from + 1 }, (_, i) => makeLogLine({ runId, seq: from + i }));

describe('run log rules', () => {
  it('weighs a line by its characters and an overhead, and keeps one waiting change per run', () => {
    const line = makeLogLine({ runId: 'r', seq: 1, line: 'abc' });
    expect(logLineWeight(line)).toBe(3 + 128);
    expect(LOG_WRITES.weightOf(line)).toBe(3 + 128);
    expect(RUN_CHANGE_WRITES.keyOf(makeRun({ id: 'r7' }))).toBe('r7');
  });

  it('shows no line past the per-run limit, counted back from the newest read', () => {
    expect(seqs(withinLogLimit(lines(1, 12), 10))).toEqual(seqs(lines(3, 12)));
    expect(seqs(withinLogLimit(lines(5, 8), 10))).toEqual([5, 6, 7, 8]);
    expect(withinLogLimit([], 10)).toEqual([]);
  });

  it('trims once a run holds a tenth more than its limit, down to the limit', () => {
    expect(logTrimThrough(1, 110, 100)).toBeUndefined();
    expect(logTrimThrough(1, 111, 100)).toBe(11);
    expect(logTrimThrough(12, 121, 100)).toBeUndefined();
    // A limit under ten still leaves room for one line more.
    expect(logTrimThrough(1, 4, 3)).toBeUndefined();
    expect(logTrimThrough(1, 5, 3)).toBe(2);
  });

  it('merges waiting lines after stored ones in seq order', () => {
    expect(seqs(mergeBySeq(lines(1, 2), [makeLogLine({ runId: 'r', seq: 4 }), makeLogLine({ runId: 'r', seq: 3 })]))).toEqual([1, 2, 3, 4]);
    const stored = lines(1, 2);
    expect(mergeBySeq(stored, [])).not.toBe(stored);
  });

  it('keeps the first dropped line of a run as a SYSTEM line counting the drops, until it is written', () => {
    const health = new StoreHealth({ logger: createTestLogger() });
    let fault: string | null = 'log lines: disk full';
    const drops = new LogDrops({ health, writeFault: () => fault });
    const [first, second, third] = lines(5, 7);
    const other = makeLogLine({ runId: 'other', seq: 1 });
    expect(drops.drop(first!)).toBe(true);
    expect(drops.drop(second!)).toBe(false);
    expect(drops.drop(third!)).toBe(false);
    expect(drops.asStored(first!)).toMatchObject({
      seq: 5,
      stream: 'SYSTEM',
      step: null,
      line: 'bosun dropped 3 log lines of this run here: the store could not write (log lines: disk full) and the lines waiting for it had reached their limit',
    });
    expect(drops.asStored(second!)).toBe(second);
    expect(drops.asStored(other)).toBe(other);
    expect(seqs(drops.waitingLines([other, first!], 'r', 0))).toEqual([5]);
    expect(drops.waitingLines([other, first!], 'r', 5)).toEqual([]);

    fault = null;
    const { lines: stored, written } = drops.prepare([other, first!]);
    expect(stored[0]).toBe(other);
    expect(stored[1]!.line).toMatch(/^bosun dropped 3 log lines .*\(a write failed\)/);
    // Not written yet: the notice still counts.
    expect(drops.drop(makeLogLine({ runId: 'r', seq: 8 }))).toBe(false);
    written();
    // Written: the next drop of the run starts a new notice.
    const next = makeLogLine({ runId: 'r', seq: 9 });
    expect(drops.drop(next)).toBe(true);
    expect(drops.asStored(next).line).toMatch(/^bosun dropped 1 log line of this run/);
  });
});
