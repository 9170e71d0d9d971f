/**
 * The one integer check that every layer uses: options of a class ("Expected maxQueueLength to
 * be an integer of at least 1, got 0"), GraphQL arguments and environment variables phrase their
 * errors differently, but agree on what a valid integer in a range is and how it is described.
 */
import { InvalidValueError } from '../errors.js';

export interface IntegerRange {
  /** Smallest valid value; default `Number.MIN_SAFE_INTEGER`. */
  readonly min?: number;
  /** Largest valid value; default `Number.MAX_SAFE_INTEGER`. */
  readonly max?: number;
  /** Said after the range, e.g. `0 = unlimited`. */
  readonly note?: string;
}

/** True when `value` is a safe integer within the range. */
export function isIntegerInRange(value: unknown, range: IntegerRange = {}): value is number {
  return (
    typeof value === 'number' &&
    Number.isSafeInteger(value) &&
    value >= (range.min ?? Number.MIN_SAFE_INTEGER) &&
    value <= (range.max ?? Number.MAX_SAFE_INTEGER)
  );
}

/** What the range expects, as the rest of a sentence: "an integer from 1 to 500 (0 = unlimited)". */
export function describeIntegerRange(range: IntegerRange = {}): string {
  return describeRange('an integer', range);
}

/** The same for any finite number: "a number from 0 to 100". */
export function describeNumberRange(range: IntegerRange = {}): string {
  return describeRange('a number', range);
}

function describeRange(kind: string, range: IntegerRange): string {
  const hasMin = range.min !== undefined && range.min > Number.MIN_SAFE_INTEGER;
  const hasMax = range.max !== undefined && range.max < Number.MAX_SAFE_INTEGER;
  const bounds =
    hasMin && hasMax ? ` from ${range.min} to ${range.max}` : hasMin ? ` of at least ${range.min}` : hasMax ? ` of at most ${range.max}` : '';
  return `${kind}${bounds}${range.note ? ` (${range.note})` : ''}`;
}

/**
 * Returns `value` when it is an integer within the range.
 * @throws InvalidValueError "Expected `name` to be an integer from … to …, got …".
 */
export function checkInteger(name: string, value: unknown, range: IntegerRange = {}): number {
  if (!isIntegerInRange(value, range)) throw new InvalidValueError(`${name} to be ${describeIntegerRange(range)}`, value);
  return value;
}
