/**
 * Log lines that a client can cause, written at most once per window. A client that opens
 * sockets as fast as they are refused made bosun write a line per refusal (4,442 lines in 24 s);
 * the log is for the operator, not a channel the client can fill. The first event after a quiet
 * window is written at once, with its details; the ones that follow within the window are
 * counted, and written as one summary line when it ends (then a new window starts). So at most one
 * line per window, however many events.
 */
import type { Logger } from '../logger.js';

export interface LogSummaryOptions {
  readonly logger: Pick<Logger, 'info' | 'warn'>;
  readonly level: 'info' | 'warn';
  /** What the summary line says before its count, e.g. `WebSocket upgrades refused`. */
  readonly summary: string;
  /** Default 10 s. */
  readonly windowMs?: number;
}

/** How many remote addresses, and distinct messages, a summary line names at most (the rest are counted). */
const NAMED_REMOTES = 5;
const NAMED_REASONS = 10;

export class LogSummary {
  readonly #options: LogSummaryOptions;
  readonly #windowMs: number;
  #timer: NodeJS.Timeout | undefined;
  #count = 0;
  readonly #reasons = new Map<string, number>();
  readonly #remotes = new Set<string>();

  constructor(options: LogSummaryOptions) {
    this.#options = options;
    this.#windowMs = options.windowMs ?? 10_000;
  }

  /** Records one event: written now if the window is quiet, else counted for the summary. */
  note(message: string, fields: { readonly remote?: string | undefined } & Record<string, unknown> = {}): void {
    if (this.#timer === undefined) {
      this.#options.logger[this.#options.level](fields, message);
      this.#startWindow();
      return;
    }
    this.#count += 1;
    const reason = this.#reasons.has(message) || this.#reasons.size < NAMED_REASONS ? message : 'other';
    this.#reasons.set(reason, (this.#reasons.get(reason) ?? 0) + 1);
    if (fields.remote !== undefined && this.#remotes.size < NAMED_REMOTES) this.#remotes.add(fields.remote);
  }

  /** Writes what is counted (if anything) and stops the timer. */
  dispose(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flush();
  }

  #startWindow(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // A window that counted something ends with its line, and that line opens the next window.
      if (this.#flush()) this.#startWindow();
    }, this.#windowMs);
    // Counting must not keep the process alive.
    this.#timer.unref();
  }

  /** Writes the summary of the counted events; false when there were none. */
  #flush(): boolean {
    if (this.#count === 0) return false;
    const seconds = Math.round(this.#windowMs / 1000);
    this.#options.logger[this.#options.level](
      { count: this.#count, reasons: Object.fromEntries(this.#reasons), remotes: [...this.#remotes] },
      `${this.#options.summary}: ${this.#count} more in the last ${seconds} s`,
    );
    this.#count = 0;
    this.#reasons.clear();
    this.#remotes.clear();
    return true;
  }
}
