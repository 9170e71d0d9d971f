/**
 * A deadline for one Docker API call. An engine that accepts a connection and never answers
 * would otherwise hang whatever waits on it; past the deadline the call fails as
 * DOCKER_UNAVAILABLE and its HTTP request is aborted.
 */
import { withDeadline } from '../shared/deadline.js';
import { SandboxError, toSandboxError } from './sandbox-errors.js';

/**
 * Runs `call` with a signal that aborts after `timeoutMs` (or when `outer` aborts), and stops
 * waiting at that moment even if the call ignores its signal.
 * @throws SandboxError classified from the engine's error, DOCKER_UNAVAILABLE past the deadline,
 *   or `outer`'s reason when it aborted first.
 */
export function dockerCall<T>(action: string, timeoutMs: number, call: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T> {
  return withDeadline(
    async (signal) => {
      try {
        return await call(signal);
      } catch (error) {
        throw toSandboxError(error, action);
      }
    },
    {
      timeoutMs,
      signal: outer,
      onTimeout: () => new SandboxError('DOCKER_UNAVAILABLE', `the Docker engine did not answer within ${timeoutMs} ms while trying to ${action}`),
    },
  );
}
