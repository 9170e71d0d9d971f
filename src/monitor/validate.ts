/**
 * Eager checks of the monitor's numeric options, failing with "Expected X, got Y".
 */
import { InvalidValueError } from '../errors.js';

/** @throws InvalidValueError unless `value` is an integer of at least `min`. */
export function integerAtLeast(name: string, value: number, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidValueError(`${name} to be an integer of at least ${min}`, value);
  }
  return value;
}

/** @throws InvalidValueError unless `value` is an integer of at least 1. */
export function positiveInteger(name: string, value: number): number {
  return integerAtLeast(name, value, 1);
}
