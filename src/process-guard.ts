/**
 * The process-level guard against faults nobody caught, installed by src/main.ts only (never in
 * tests: there an unexpected rejection must fail the test, and vitest reports it).
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
