/**
 * The `ENGINE_STATS` {@link StatsSampler}: keeps one live Docker stats stream open per watched container: opens it at once, reopens it with
 * exponential backoff when it breaks or ends, and stops it on request. It knows nothing of
 * grading, alerts or history: each frame goes to the callback the container was opened with.
 *
 * A stream that ends is logged at debug: the engine ends it when the container stops, which
 * happens at the end of every run just before the container is unwatched. A stream that throws
 * is logged at warn, once per outage; the first frame after an outage is logged at info.
 */
import { BosunError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ResourceStats } from '../sandbox/resource-stats.js';
import { delay } from '../shared/deadline.js';
import { checkInteger } from '../shared/validate.js';
import type { ContainerStatsSource } from './container-stats-source.js';
import { ReadingOutage, deliverReading } from './reading-outage.js';
import type { MonitorSource, SampleSink, StatsSampler } from './stats-sampler.js';

export interface StatsStreamSupervisorOptions {
  readonly source: Pick<ContainerStatsSource, 'streamStats'>;
  readonly logger: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** First wait before reopening a broken stream; doubles per failure in a row. Default 1,000. */
  readonly retryBaseDelayMs?: number;
  /** Longest wait before reopening a broken stream. Default 30,000. */
  readonly retryMaxDelayMs?: number;
}

/** What to do with one container's stream: each frame goes to `onStats`. */
export type SupervisedStream = SampleSink;

/** One supervised container and the state of its stream. */
interface Entry {
  readonly containerId: string;
  readonly stream: SupervisedStream;
  /** Aborted by stop() and close(): ends the stream and any reopen wait. */
  readonly stop: AbortController;
  /** Aborted by reopenBroken() to cut a reopen wait short; replaced after each use. */
  wake: AbortController;
  open: boolean;
  /** Since the stream failed or ended and until it delivers a frame; its failures in a row are the backoff exponent. */
  readonly outage: ReadingOutage;
}

/** How one stream ended: stopped by us, ended by the engine (container stopped), or broke. */
type StreamOutcome = { readonly kind: 'stopped' } | { readonly kind: 'ended' } | { readonly kind: 'failed'; readonly error: string };

const STOPPED = Symbol('stopped');

export class StatsStreamSupervisor implements StatsSampler {
  readonly source: MonitorSource = 'ENGINE_STATS';
  private readonly streams: Pick<ContainerStatsSource, 'streamStats'>;
  private readonly logger: Pick<Logger, 'debug' | 'info' | 'warn'>;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly entries = new Map<string, Entry>();
  /** Every stream loop still running, including those of stopped containers winding down. */
  private readonly loops = new Set<Promise<void>>();
  private closed = false;

  /** @throws InvalidValueError for a bad delay. */
  constructor(options: StatsStreamSupervisorOptions) {
    this.streams = options.source;
    this.logger = options.logger;
    this.retryBaseDelayMs = checkInteger('streamRetryBaseDelayMs', options.retryBaseDelayMs ?? 1_000, { min: 1 });
    this.retryMaxDelayMs = checkInteger('streamRetryMaxDelayMs', options.retryMaxDelayMs ?? 30_000, {
      min: this.retryBaseDelayMs,
    });
  }

  /**
   * Opens the container's stream now (synchronously, before this returns) and keeps it open
   * until stop(). Returns false, changing nothing, when the container is supervised already.
   * @throws BosunError SHUTTING_DOWN after close().
   */
  open(containerId: string, stream: SupervisedStream): boolean {
    if (this.closed) throw new BosunError('SHUTTING_DOWN', 'The stats stream supervisor is closed');
    if (this.entries.has(containerId)) return false;
    const entry: Entry = {
      containerId,
      stream,
      stop: new AbortController(),
      wake: new AbortController(),
      open: false,
      outage: new ReadingOutage(),
    };
    this.entries.set(containerId, entry);
    const loop = this.keepOpen(entry);
    this.loops.add(loop);
    void loop.finally(() => this.loops.delete(loop));
    return true;
  }

  /**
   * Stops the container's stream at once (and any reopen wait); no frame is delivered after
   * this returns. Returns whether the container was supervised.
   */
  stop(containerId: string): boolean {
    const entry = this.entries.get(containerId);
    if (entry === undefined) return false;
    this.entries.delete(containerId);
    entry.stop.abort();
    return true;
  }

  /** Whether the container's stream broke or ended and has not delivered a frame since. */
  isBroken(containerId: string): boolean {
    return this.entries.get(containerId)?.outage.broken ?? false;
  }

  sourceOf(containerId: string): MonitorSource | undefined {
    return this.entries.has(containerId) ? 'ENGINE_STATS' : undefined;
  }

  /**
   * Streams open now. Equals the number of supervised containers, except for those whose stream
   * broke and waits to be reopened.
   */
  openCount(): number {
    let open = 0;
    for (const entry of this.entries.values()) if (entry.open) open += 1;
    return open;
  }

  /** Reopens every broken stream now instead of at the end of its backoff. */
  reopenBroken(): void {
    for (const entry of this.entries.values()) if (entry.outage.broken) entry.wake.abort();
  }

  /** Stops every stream and resolves once every stream loop has ended. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const entry of this.entries.values()) entry.stop.abort();
    this.entries.clear();
    await Promise.allSettled([...this.loops]);
  }

  /** Keeps one stream open for `entry` until it is stopped, reopening with backoff. */
  private async keepOpen(entry: Entry): Promise<void> {
    const { signal } = entry.stop;
    while (!signal.aborted) {
      const outcome = await this.consume(entry);
      if (signal.aborted || outcome.kind === 'stopped') return;
      entry.outage.fail();
      const backoffMs = Math.min(this.retryMaxDelayMs, this.retryBaseDelayMs * 2 ** (entry.outage.failures - 1));
      const context = { containerId: entry.containerId, ...entry.stream.logContext?.(), backoffMs };
      if (outcome.kind === 'ended') {
        this.logger.debug(context, 'stats stream ended (container stopped): reopening');
      } else if (entry.outage.warnOnce()) {
        this.logger.warn({ ...context, error: outcome.error }, 'stats stream broke: reopening');
      }
      await delay(backoffMs, [signal, entry.wake.signal]);
      if (entry.wake.signal.aborted) entry.wake = new AbortController();
    }
  }

  /** Reads one stream until it ends, breaks or is stopped. */
  private async consume(entry: Entry): Promise<StreamOutcome> {
    const { signal } = entry.stop;
    // Each read races a stop, so a stop takes effect even if the source ignores the signal. The
    // race is per read (not against one long-lived promise, which would collect a reaction per
    // frame for as long as the container lives).
    let stopRead: (() => void) | undefined;
    const onStop = (): void => stopRead?.();
    signal.addEventListener('abort', onStop, { once: true });
    let iterator: AsyncIterator<ResourceStats> | undefined;
    entry.open = true;
    try {
      iterator = this.streams.streamStats(entry.containerId, signal)[Symbol.asyncIterator]();
      for (;;) {
        if (signal.aborted) return { kind: 'stopped' };
        const reading = iterator;
        const next = await new Promise<IteratorResult<ResourceStats> | typeof STOPPED>((resolve, reject) => {
          stopRead = () => resolve(STOPPED);
          reading.next().then(resolve, reject);
        });
        stopRead = undefined;
        // A frame that arrives as the container is stopped must not reach its callback.
        if (next === STOPPED || signal.aborted) return { kind: 'stopped' };
        if (next.done === true) return { kind: 'ended' };
        this.deliver(entry, next.value);
      }
    } catch (error) {
      return signal.aborted ? { kind: 'stopped' } : { kind: 'failed', error: errorMessage(error) };
    } finally {
      entry.open = false;
      signal.removeEventListener('abort', onStop);
      const open = iterator;
      // Lets the source release the stream; not awaited, as a source stuck in a read would hold us.
      if (open?.return !== undefined)
        void Promise.resolve()
          .then(() => open.return?.())
          .catch(() => undefined);
    }
  }

  private deliver(entry: Entry, stats: ResourceStats): void {
    const ended = entry.outage.recover();
    if (ended !== null) {
      this.logger.info({ containerId: entry.containerId, ...entry.stream.logContext?.(), failures: ended.failures }, 'stats stream reopened');
    }
    // A throwing consumer is its own fault, not the stream's: the stream stays open.
    deliverReading(entry.stream, stats, this.logger, entry.containerId, 'stats frame handler threw');
  }
}
