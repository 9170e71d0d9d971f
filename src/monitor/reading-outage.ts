/**
 * The per-container bookkeeping both {@link StatsSampler}s keep around each reading: an outage
 * (the container's figures cannot be read) that starts at a failed reading and ends at the next
 * good one, warned about at most once, and the reading handed to the monitor's sink without
 * letting a throwing consumer break the reading loop.
 *
 * What each sampler logs, and at which level, stays its own: a stats stream ends at the end of
 * every run and is reopened with backoff, cgroup files vanish with their container.
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ResourceStats } from '../sandbox/resource-stats.js';
import type { SampleSink } from './stats-sampler.js';

/** How an outage ended (see {@link ReadingOutage.recover}). */
export interface EndedOutage {
  /** Failed readings in it. */
  readonly failures: number;
  /** Whether it was logged at warn. */
  readonly warned: boolean;
}

export class ReadingOutage {
  private brokenNow = false;
  private warnedNow = false;
  private failuresNow = 0;

  /** A reading failed and none has succeeded since. */
  get broken(): boolean {
    return this.brokenNow;
  }

  /** Failed readings in the current outage (0 outside one). */
  get failures(): number {
    return this.failuresNow;
  }

  /** Records a failed reading. Returns true when it starts an outage. */
  fail(): boolean {
    const starts = !this.brokenNow;
    this.brokenNow = true;
    this.failuresNow += 1;
    return starts;
  }

  /** Returns true once per outage: the caller logs it at warn then, and not again until it is over. */
  warnOnce(): boolean {
    if (this.warnedNow) return false;
    this.warnedNow = true;
    return true;
  }

  /** Records a good reading: ends the outage, if any, and returns how it went (null when there was none). */
  recover(): EndedOutage | null {
    if (!this.brokenNow) return null;
    const ended = { failures: this.failuresNow, warned: this.warnedNow };
    this.brokenNow = false;
    this.warnedNow = false;
    this.failuresNow = 0;
    return ended;
  }
}

/** Hands a reading to its sink; a sink that throws is logged at warn (the consumer's fault, not the reading's). */
export function deliverReading(sink: SampleSink, stats: ResourceStats, logger: Pick<Logger, 'warn'>, containerId: string, message: string): void {
  try {
    sink.onStats(stats);
  } catch (error) {
    logger.warn({ containerId, error: errorMessage(error) }, message);
  }
}
