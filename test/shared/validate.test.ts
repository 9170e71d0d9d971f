import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.js';
import { checkInteger, describeIntegerRange, isIntegerInRange } from '../../src/shared/validate.js';

describe('isIntegerInRange', () => {
  it.each([
    [5, { min: 1, max: 10 }, true],
    [1, { min: 1, max: 10 }, true],
    [10, { min: 1, max: 10 }, true],
    [0, { min: 1, max: 10 }, false],
    [11, { min: 1, max: 10 }, false],
    [1.5, {}, false],
    [Number.NaN, {}, false],
    [Number.POSITIVE_INFINITY, {}, false],
    [2 ** 53, {}, false],
    ['5', {}, false],
    [-3, {}, true],
  ] as const)('%s in %o is %s', (value, range, expected) => {
    expect(isIntegerInRange(value, range)).toBe(expected);
  });
});

describe('describeIntegerRange', () => {
  it('says what the range expects, with its note', () => {
    expect(describeIntegerRange({ min: 1, max: 500, note: '0 = unlimited' })).toBe('an integer from 1 to 500 (0 = unlimited)');
    expect(describeIntegerRange({ min: 0 })).toBe('an integer of at least 0');
    expect(describeIntegerRange({ max: 4 })).toBe('an integer of at most 4');
    expect(describeIntegerRange()).toBe('an integer');
  });
});

describe('checkInteger', () => {
  it('returns a valid value', () => {
    expect(checkInteger('count', 3, { min: 1 })).toBe(3);
  });

  it('throws InvalidValueError "Expected <name> to be …, got …" otherwise', () => {
    expect(() => checkInteger('intervalMs', 0, { min: 1 })).toThrow(InvalidValueError);
    expect(() => checkInteger('intervalMs', 0, { min: 1 })).toThrow('Expected intervalMs to be an integer of at least 1, got 0');
    expect(() => checkInteger('concurrencyAutoscaleMax', 5, { min: 1, max: 4 })).toThrow(
      'Expected concurrencyAutoscaleMax to be an integer from 1 to 4, got 5',
    );
    expect(() => checkInteger('n', 1.5)).toThrow(/^Expected n to be an integer, got 1\.5$/);
  });
});
