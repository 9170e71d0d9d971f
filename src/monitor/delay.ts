/**
 * A timer that any of several signals can cut short, and that leaves no timer or listener behind.
 */

/** How a {@link delay} ended. */
export type DelayOutcome = 'elapsed' | 'interrupted';

/**
 * Waits `ms` milliseconds, or until one of `signals` aborts (then resolves 'interrupted'; never rejects).
 * The timer and the abort listeners are removed as soon as it settles.
 */
export function delay(ms: number, signals: readonly AbortSignal[] = []): Promise<DelayOutcome> {
  if (signals.some((signal) => signal.aborted)) return Promise.resolve('interrupted');
  return new Promise((resolve) => {
    const finish = (outcome: DelayOutcome): void => {
      clearTimeout(timer);
      for (const signal of signals) signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const onAbort = (): void => finish('interrupted');
    const timer = setTimeout(() => finish('elapsed'), Math.max(0, ms));
    for (const signal of signals) signal.addEventListener('abort', onAbort, { once: true });
  });
}
