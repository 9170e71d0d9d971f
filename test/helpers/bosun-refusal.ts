/** The BosunError a promise rejects with; the test fails if it resolves or rejects with anything else. */
import { expect } from 'vitest';
import { BosunError } from '../../src/errors.js';

export async function bosunRefusal(promise: Promise<unknown>): Promise<BosunError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(BosunError);
  return error as BosunError;
}
