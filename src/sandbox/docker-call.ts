/**
 * A deadline for one Docker API call. An engine that accepts a connection and never answers
 * would otherwise hang whatever waits on it; past the deadline the call fails as
 * DOCKER_UNAVAILABLE and its HTTP request is aborted.
 */
import { SandboxError, toSandboxError } from './sandbox-errors.js';

/**
 * Runs `call` with a signal that aborts after `timeoutMs` (or when `outer` aborts), and stops
 * waiting at that moment even if the call ignores its signal.
 * @throws SandboxError classified from the engine's error, DOCKER_UNAVAILABLE past the deadline,
 *   or `outer`'s reason when it aborted first.
 */
export function dockerCall<T>(action: string, timeoutMs: number, call: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T> {
  outer?.throwIfAborted();
  const deadline = new AbortController();
  const signal = outer ? AbortSignal.any([outer, deadline.signal]) : deadline.signal;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
      fn();
    };
    const timer = setTimeout(() => {
      const error = new SandboxError('DOCKER_UNAVAILABLE', `the Docker engine did not answer within ${timeoutMs} ms while trying to ${action}`);
      deadline.abort(error);
      settle(() => reject(error));
    }, timeoutMs);
    const onOuterAbort = () => settle(() => reject(outer!.reason));
    outer?.addEventListener('abort', onOuterAbort, { once: true });
    call(signal).then(
      (value) => settle(() => resolve(value)),
      (error: unknown) => settle(() => reject(toSandboxError(error, action))),
    );
  });
}
