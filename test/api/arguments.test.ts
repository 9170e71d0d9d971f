import { describe, expect, it } from 'vitest';
import { afterSeq, lastCount, listLimit, maxConcurrency } from '../../src/api/arguments.js';
import { BosunError } from '../../src/errors.js';

function badInput(run: () => unknown): { code: string; field: string | undefined; message: string } | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof BosunError) return { code: error.code, field: error.field, message: error.message };
    throw error;
  }
  return undefined;
}

describe('argument checks', () => {
  it('limit: 1..500, default 50', () => {
    expect(listLimit(undefined)).toBe(50);
    expect(listLimit(null)).toBe(50);
    expect(listLimit(1)).toBe(1);
    expect(listLimit(500)).toBe(500);
    expect(badInput(() => listLimit(0))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'limit',
      message: 'limit: expected an integer from 1 to 500, got 0',
    });
  });

  it('last and afterSeq: at least 0, integers', () => {
    expect(lastCount(0)).toBe(0);
    expect(afterSeq(null)).toBeUndefined();
    expect(badInput(() => lastCount(-1))?.field).toBe('last');
    expect(badInput(() => afterSeq(1.5))?.message).toBe('afterSeq: expected an integer of at least 0, got 1.5');
  });

  it('setMaxConcurrency value: an integer from 0 to 10000', () => {
    expect(maxConcurrency(0)).toBe(0);
    expect(maxConcurrency(10_000)).toBe(10_000);
    expect(badInput(() => maxConcurrency(2.5))?.message).toBe('value: expected an integer from 0 to 10000 (0 = unlimited), got 2.5');
    expect(badInput(() => maxConcurrency(Number.NaN))?.code).toBe('BAD_USER_INPUT');
  });
});
