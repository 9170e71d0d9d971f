/**
 * Runs an async task now and then every `intervalMs`, never two at once: a tick that finds the
 * previous run still going is skipped. Stopping clears the timer and aborts the run in flight
 * (through the signal it was given); a failure of a run that was not aborted goes to `onError`.
 */
import { checkInteger } from '../shared/validate.js';

export class PeriodicTask {
  private timer: NodeJS.Timeout | null = null;
  /** Aborts the run in flight; replaced by each start(). */
  private abort = new AbortController();
  private running: Promise<void> | null = null;

  constructor(
    private readonly task: (signal: AbortSignal) => Promise<unknown>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /**
   * Runs the task now and every `intervalMs`; a second start() replaces the schedule.
   * @throws InvalidValueError for an interval that is not an integer of at least 1.
   */
  start(intervalMs: number): void {
    checkInteger('intervalMs', intervalMs, { min: 1 });
    this.stop();
    this.abort = new AbortController();
    const signal = this.abort.signal;
    const tick = (): void => {
      if (this.running !== null) return;
      this.running = this.task(signal)
        .then(() => undefined)
        .catch((error: unknown) => {
          if (!signal.aborted) this.onError(error);
        })
        .finally(() => {
          this.running = null;
        });
    };
    this.timer = setInterval(tick, intervalMs);
    tick();
  }

  /** Clears the schedule and aborts the run in flight, if any. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.abort.abort();
  }

  /** Resolves once no run is in flight (never rejects). */
  async settled(): Promise<void> {
    await this.running;
  }
}
