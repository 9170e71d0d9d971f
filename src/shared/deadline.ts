/**
 * Deadlines and waits on the platform's own signals (`AbortSignal.timeout`, `AbortSignal.any`),
 * so that every long operation in bosun is bounded the same way and leaves no timer or listener
 * behind.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';
import { MAX_TIMER_DELAY_MS } from './constants.js';

export interface DeadlineOptions {
  /** How long the operation may take, in milliseconds (capped at {@link MAX_TIMER_DELAY_MS}). */
  readonly timeoutMs: number;
  /** Aborts the operation from outside; the deadline then rejects with this signal's reason. */
  readonly signal?: AbortSignal | undefined;
  /** The error to reject with once the time is up; default a `TimeoutError` naming the limit. */
  readonly onTimeout?: () => Error;
}

/**
 * Runs `operation` with a signal that aborts after `timeoutMs` or when `options.signal` aborts,
 * and rejects at that moment even if the operation ignores its signal.
 * @throws the operation's own error; `onTimeout()` past the deadline; the outer signal's reason
 *   when it aborted first (also when it had aborted before the call).
 */
export async function withDeadline<T>(operation: (signal: AbortSignal) => Promise<T>, options: DeadlineOptions): Promise<T> {
  const outer = options.signal;
  outer?.throwIfAborted();
  const timeoutMs = Math.min(Math.max(0, options.timeoutMs), MAX_TIMER_DELAY_MS);
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = outer ? AbortSignal.any([outer, timeout]) : timeout;
  let onAbort = (): void => {};
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the caller's abort reason passes through as given, like fetch's
      if (outer?.aborted) reject(outer.reason);
      else reject(options.onTimeout?.() ?? timeoutError(timeoutMs));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
  // Marked handled: when the operation settles first, nothing else ever awaits `aborted`.
  aborted.catch(() => undefined);
  try {
    return await Promise.race([Promise.resolve().then(() => operation(signal)), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function timeoutError(timeoutMs: number): Error {
  const error = new Error(`no answer within ${timeoutMs} ms`);
  error.name = 'TimeoutError';
  return error;
}

/** How a {@link delay} ended. */
export type DelayOutcome = 'elapsed' | 'interrupted';

/**
 * Waits `ms` milliseconds, or until one of `signals` aborts (then resolves 'interrupted'; never
 * rejects). The timer and the abort listeners are gone as soon as it settles.
 */
export async function delay(ms: number, signals: readonly AbortSignal[] = []): Promise<DelayOutcome> {
  if (signals.some((signal) => signal.aborted)) return 'interrupted';
  const signal = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any([...signals]);
  try {
    await sleepFor(Math.min(Math.max(0, ms), MAX_TIMER_DELAY_MS), undefined, signal ? { signal } : {});
    return 'elapsed';
  } catch (error) {
    if (signal?.aborted) return 'interrupted';
    throw error;
  }
}

/**
 * `signal` as the platform's own AbortSignal, following it. The fetch layer under yoga may hand
 * requests a ponyfill signal (it does on Node 24), which `AbortSignal.any` refuses with a
 * TypeError; what comes from a request passes through here before it meets the platform's
 * signal helpers.
 */
export function nativeSignal(signal: AbortSignal): AbortSignal {
  if (isPlatformSignal(signal)) return signal;
  const source: Pick<AbortSignal, 'aborted' | 'reason' | 'addEventListener'> = signal;
  const controller = new AbortController();
  if (source.aborted) controller.abort(source.reason);
  else source.addEventListener('abort', () => controller.abort(source.reason), { once: true });
  return controller.signal;
}

/**
 * Whether `signal` is the platform's own, by its internal brand rather than `instanceof`: a
 * ponyfill's signal may have AbortSignal.prototype (so `instanceof` holds) and still not be one
 * to `AbortSignal.any`. The platform's `aborted` getter throws on anything without the brand.
 */
function isPlatformSignal(signal: AbortSignal): boolean {
  try {
    Reflect.get(AbortSignal.prototype, 'aborted', signal);
    return true;
  } catch {
    return false;
  }
}
