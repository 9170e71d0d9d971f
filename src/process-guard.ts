/**
 * The process-level guards, installed by src/main.ts only: against faults nobody caught (never in
 * tests: there an unexpected rejection must fail the test, and vitest reports it), and the reading
 * of stop signals ({@link installStopSignals}).
 *
 * - A promise rejection that nothing handles comes from a background task (a flush, a stream,
 *   a timer's async work) that failed on its own: the request or run that started it has
 *   moved on. It is logged as an error with its stack, and bosun keeps running.
 * - An exception that nothing caught unwound a synchronous path halfway (a queue slot taken and
 *   not released, a record half-updated), so bosun's in-memory state cannot be trusted any
 *   more. That is fatal: it is logged with its stack and `onFatal` shuts bosun down cleanly
 *   (its sandboxes removed, waiting runs kept for the next start), then exits non-zero for a
 *   supervisor to restart it. A second one during that shutdown exits at once.
 */
import type { Logger } from './logger.js';

export interface ProcessGuardOptions {
  readonly logger: Pick<Logger, 'error'>;
  /** The first uncaught exception: shut down and exit non-zero. */
  readonly onFatal: (error: unknown) => void;
  /** A second uncaught exception while `onFatal` works: exit now. */
  readonly exitNow: () => void;
}

/** Installs the guard on `target` (the process); returns what uninstalls it. */
export function installProcessGuard(target: NodeJS.EventEmitter, options: ProcessGuardOptions): () => void {
  let fatal = false;
  const onRejection = (reason: unknown) => {
    options.logger.error({ err: reason }, 'a background task failed with a rejection nothing handled; bosun keeps running');
  };
  const onException = (error: unknown) => {
    if (fatal) {
      options.logger.error({ err: error }, 'another uncaught exception during the shutdown: exiting now');
      options.exitNow();
      return;
    }
    fatal = true;
    options.logger.error({ err: error }, 'uncaught exception: bosun shuts down (its state may be inconsistent) and exits 1');
    options.onFatal(error);
  };
  target.on('unhandledRejection', onRejection);
  target.on('uncaughtException', onException);
  return () => {
    target.off('unhandledRejection', onRejection);
    target.off('uncaughtException', onException);
  };
}

/**
 * How long after the first stop signal another one still counts as the same request. One Ctrl-C
 * signals the terminal's whole foreground process group, and one `kill -TERM -<pgid>` (or a
 * supervisor stopping a process tree) the whole group too: under `npm start` npm gets it as well
 * and passes it on to bosun, so bosun sees the one request twice, a few milliseconds apart. A
 * person who means "now" presses again later than that.
 */
export const SAME_STOP_REQUEST_MS = 1000;

export interface StopSignalOptions {
  readonly logger: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** The first SIGINT or SIGTERM: begin the graceful stop. */
  readonly onStop: (signal: NodeJS.Signals) => void;
  /** A stop signal that is clearly a second request: exit now. */
  readonly exitNow: (signal: NodeJS.Signals) => void;
  /** Default {@link SAME_STOP_REQUEST_MS}. */
  readonly sameRequestMs?: number;
  /** Milliseconds on a monotonic clock; default `performance.now`. */
  readonly now?: () => number;
}

/**
 * Reads SIGINT and SIGTERM on `target` (the process) as stop requests: the first one begins the
 * graceful stop (and says so in the log); another one within {@link SAME_STOP_REQUEST_MS} of it
 * is the same request relayed by another process in the group, and changes nothing; one after
 * that is a second request and exits at once. Returns what uninstalls it.
 */
export function installStopSignals(target: NodeJS.EventEmitter, options: StopSignalOptions): () => void {
  const sameRequestMs = options.sameRequestMs ?? SAME_STOP_REQUEST_MS;
  const now = options.now ?? (() => performance.now());
  let firstAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    const at = now();
    if (firstAt === undefined) {
      firstAt = at;
      options.logger.info({ signal }, 'signal received: stopping gracefully (send it again, a second or more later, to exit at once)');
      options.onStop(signal);
      return;
    }
    const sinceFirstMs = Math.round(at - firstAt);
    if (at - firstAt < sameRequestMs) {
      options.logger.debug(
        { signal, sinceFirstMs },
        'the same stop request again (passed on by another process in the group): still stopping gracefully',
      );
      return;
    }
    options.logger.warn({ signal, sinceFirstMs }, 'second signal: exiting at once');
    options.exitNow(signal);
  };
  target.on('SIGINT', onSignal);
  target.on('SIGTERM', onSignal);
  return () => {
    target.off('SIGINT', onSignal);
    target.off('SIGTERM', onSignal);
  };
}
