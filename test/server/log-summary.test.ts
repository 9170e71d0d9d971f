/**
 * Events a client can cause at will are logged at most once per window.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LogSummary } from '../../src/server/log-summary.js';
import { createTestLogger, type TestLogger } from '../helpers/test-logger.js';

let logger: TestLogger;
beforeEach(() => {
  vi.useFakeTimers();
  logger = createTestLogger();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('LogSummary', () => {
  it('writes the first event at once, then one line per window with the count', () => {
    const summary = new LogSummary({ logger, level: 'info', summary: 'Connections refused', windowMs: 10_000 });
    summary.note('refused: full', { remote: '10.0.0.1' });
    expect(logger.entries).toEqual([{ level: 'info', fields: { remote: '10.0.0.1' }, msg: 'refused: full' }]);
    for (let index = 0; index < 5_000; index += 1) summary.note(index % 2 ? 'refused: full' : 'refused: origin', { remote: `10.0.0.${index % 50}` });
    expect(logger.entries).toHaveLength(1);
    vi.advanceTimersByTime(10_000);
    expect(logger.entries).toHaveLength(2);
    expect(logger.entries[1]).toEqual({
      level: 'info',
      msg: 'Connections refused: 5000 more in the last 10 s',
      fields: {
        count: 5_000,
        reasons: { 'refused: full': 2_500, 'refused: origin': 2_500 },
        remotes: ['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'],
      },
    });
    // The next window stays quiet: no line.
    vi.advanceTimersByTime(60_000);
    expect(logger.entries).toHaveLength(2);
    // Quiet long enough: the next event is written at once again.
    summary.note('refused: full');
    expect(logger.entries).toHaveLength(3);
    summary.dispose();
  });

  it('names ten distinct messages at most, and writes what it counted when disposed', () => {
    const summary = new LogSummary({ logger, level: 'warn', summary: 'Errors' });
    summary.note('first');
    for (let index = 0; index < 100; index += 1) summary.note(`message ${index}`);
    summary.dispose();
    expect(logger.entries).toHaveLength(2);
    const reasons = logger.entries[1]!.fields['reasons'] as Record<string, number>;
    expect(Object.keys(reasons)).toHaveLength(11);
    expect(reasons['other']).toBe(90);
    expect(logger.entries[1]!.level).toBe('warn');
    vi.advanceTimersByTime(60_000);
    expect(logger.entries).toHaveLength(2);
  });
});
