/**
 * The dashboard's words for an external run's state (format.js is plain browser JavaScript
 * without DOM use, so it runs here as it is).
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- browser JavaScript without type declarations
import { externalState } from '../../src/dashboard/public/js/format.js';

const describeRun = externalState as (run: Record<string, unknown>, now: number) => string | null;
const NOW = Date.parse('2026-01-01T00:00:30.000Z');

describe('externalState', () => {
  it('says how long a waiting external run has been idle, of its timeout', () => {
    const run = { status: 'RUNNING', idleTimeoutMs: 300_000, idleSince: '2026-01-01T00:00:18.400Z', steps: [] };
    expect(describeRun(run, NOW)).toBe('waiting for commands, idle 11 s of 300 s');
  });

  it('says busy while a call runs', () => {
    expect(describeRun({ status: 'RUNNING', idleTimeoutMs: 300_000, idleSince: null, steps: [] }, NOW)).toBe('busy: a call or a set-up step runs');
  });

  it('says nothing for other runs, or once the run is over', () => {
    expect(describeRun({ status: 'RUNNING', idleTimeoutMs: null, idleSince: null, steps: [] }, NOW)).toBeNull();
    expect(describeRun({ status: 'SUCCEEDED', idleTimeoutMs: 300_000, idleSince: null, steps: [] }, NOW)).toBeNull();
  });
});
