/**
 * Whether bosun's store takes writes, and the one owner of the retries of those that failed.
 *
 * A write that fails (a full disk, an I/O error) is not lost and does not crash the process: its
 * writer keeps what it owes in memory and reports the fault here with a `retry` that writes it
 * again. The retries run on one timer with a bounded backoff (0.1 s, doubling, at most 5 s) until
 * they succeed. After {@link StoreHealthOptions.reportAfterFailures} failed attempts in a row
 * the store is reported DEGRADED (healthReport's `store`, and the run service refuses new runs
 * with UNAVAILABLE); once every retry has succeeded it is OK again, by itself.
 *
 * A retry is synchronous (SQLite) or returns a promise (PostgreSQL): an asynchronous one counts
 * when it settles, and is not started again while it runs.
 */
import { EventEmitter } from 'node:events';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';

export type StoreStatus = 'OK' | 'DEGRADED';

export interface StoreHealthReport {
  readonly status: StoreStatus;
  /** What cannot be written and why, while DEGRADED. */
  readonly error: string | null;
  /** When the store became DEGRADED. */
  readonly since: Date | null;
}

/** What {@link StoreHealth.events} emits. */
export interface StoreHealthEvents {
  /** The store became DEGRADED, or OK again: the report as of then. Listeners must not throw. */
  status: [StoreHealthReport];
}

/** What the API reads: the store's health now. */
export interface StoreHealthSource {
  report(): StoreHealthReport;
}

export interface StoreHealthOptions {
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Failed attempts in a row (a write and its retries) before the store is reported DEGRADED; default 3. */
  readonly reportAfterFailures?: number;
  /** Delay before the first retry, doubled after each failed one; default 100 ms. */
  readonly minRetryDelayMs?: number;
  /** The longest delay between retries; default 5 s. */
  readonly maxRetryDelayMs?: number;
}

/** A kind of write that failed and waits for its retry. */
interface Fault {
  readonly what: string;
  readonly retry: Retry;
  error: unknown;
  failures: number;
  /** An asynchronous retry in progress. */
  running: boolean;
}

/** Writes what is still owed; throws (or rejects) when that fails again. */
export type Retry = () => void | Promise<void>;

const OK: StoreHealthReport = Object.freeze({ status: 'OK', error: null, since: null });

export class StoreHealth implements StoreHealthSource, Disposable {
  /** Each change of {@link report}'s status, for what must act on it (a cluster node's fence). */
  readonly events = new EventEmitter<StoreHealthEvents>();
  readonly #faults = new Map<string, Fault>();
  readonly #reportAfterFailures: number;
  readonly #minRetryDelayMs: number;
  readonly #maxRetryDelayMs: number;
  #retryDelayMs: number;
  #degradedSince: Date | null = null;
  /** Items dropped (past their writers' caps) since the last fault began, per kind. */
  readonly #dropped = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #disposed = false;

  constructor(private readonly options: StoreHealthOptions) {
    this.#reportAfterFailures = options.reportAfterFailures ?? 3;
    this.#minRetryDelayMs = options.minRetryDelayMs ?? 100;
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? 5_000;
    this.#retryDelayMs = this.#minRetryDelayMs;
  }

  /**
   * A write of `what` ("log lines") failed. `retry` writes what is still owed and throws if it
   * fails again; it is called with a bounded backoff until it returns. A writer reports a fault
   * once and leaves its later writes to the retry (see {@link isFailing}).
   */
  failed(what: string, error: unknown, retry: Retry): void {
    const fault = this.#faults.get(what);
    if (fault) {
      fault.error = error;
      fault.failures += 1;
    } else {
      this.#faults.set(what, { what, retry, error, failures: 1, running: false });
      this.options.logger.warn({ err: error, what }, `store: writing ${what} failed (${errorMessage(error)}); retrying`);
    }
    this.#updateStatus();
    this.#schedule();
  }

  /** One item of `what` was dropped because too many waited for a failed write; counted in the recovery's log line. */
  dropped(what: string): void {
    this.#dropped.set(what, (this.#dropped.get(what) ?? 0) + 1);
  }

  /** True while a failed write of `what` waits for its retry: later writes of it wait behind it. */
  isFailing(what: string): boolean {
    return this.#faults.has(what);
  }

  report(): StoreHealthReport {
    if (this.#degradedSince === null) return OK;
    const error = [...this.#faults.values()].map((fault) => `${fault.what}: ${errorMessage(fault.error)}`).join('; ');
    return { status: 'DEGRADED', error, since: this.#degradedSince };
  }

  /** Retries every failed write once, now (at shutdown, before the last flush). */
  retryNow(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#retryAll();
  }

  /** Stops retrying (at shutdown, before the database closes). */
  [Symbol.dispose](): void {
    this.#disposed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#disposed || this.#faults.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#retryAll();
    }, this.#retryDelayMs);
    // The server keeps the process alive; a store left alone in a test or tool must not.
    this.#timer.unref();
    this.#retryDelayMs = Math.min(this.#retryDelayMs * 2, this.#maxRetryDelayMs);
  }

  #retryAll(): void {
    const running: Promise<void>[] = [];
    for (const fault of [...this.#faults.values()]) {
      if (fault.running) continue;
      try {
        const result = fault.retry();
        if (result instanceof Promise) {
          fault.running = true;
          running.push(
            result.then(
              () => this.#succeeded(fault),
              (error: unknown) => this.#failedAgain(fault, error),
            ),
          );
          continue;
        }
        this.#succeeded(fault);
      } catch (error) {
        this.#failedAgain(fault, error);
      }
    }
    if (running.length === 0) this.#afterRetries();
    // Once every asynchronous retry has settled (neither callback above throws).
    else void Promise.all(running).then(() => this.#afterRetries());
  }

  #succeeded(fault: Fault): void {
    fault.running = false;
    this.#faults.delete(fault.what);
    this.options.logger.info({ what: fault.what, failures: fault.failures }, `store: ${fault.what} written again`);
  }

  #failedAgain(fault: Fault, error: unknown): void {
    fault.running = false;
    fault.error = error;
    fault.failures += 1;
  }

  #afterRetries(): void {
    this.#updateStatus();
    if (this.#faults.size > 0) {
      this.#schedule();
      return;
    }
    this.#retryDelayMs = this.#minRetryDelayMs;
    if (this.#dropped.size > 0) {
      const dropped = Object.fromEntries(this.#dropped);
      this.#dropped.clear();
      this.options.logger.warn({ dropped }, 'store: items were dropped while writes failed, because too many waited');
    }
  }

  #updateStatus(): void {
    if (this.#degradedSince === null) {
      const reported = [...this.#faults.values()].some((fault) => fault.failures >= this.#reportAfterFailures);
      if (!reported) return;
      this.#degradedSince = new Date();
      const { error } = this.report();
      this.options.logger.error(
        { store: { status: 'DEGRADED', error } },
        `store DEGRADED: ${error}. Writes are retried; no new run is admitted until they succeed; running runs go on`,
      );
      this.events.emit('status', this.report());
    } else if (this.#faults.size === 0) {
      const degradedMs = Date.now() - this.#degradedSince.getTime();
      this.#degradedSince = null;
      this.options.logger.info({ degradedMs }, 'store OK again: every failed write has been written');
      this.events.emit('status', OK);
    }
  }
}
