/**
 * For fakes of async interfaces whose methods have nothing to wait for: `settle(() => body)` runs
 * the body at once and returns its result as a promise, a throw becoming the rejection, exactly as
 * an `async` method with no `await` would (a form lint refuses, since it usually is a mistake).
 */
export function settle<T>(body: () => T): Promise<T> {
  return new Promise((resolve) => resolve(body()));
}
