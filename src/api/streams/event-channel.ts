/**
 * Turns pushed events (from the services' typed EventEmitters) into an async iterator that a
 * GraphQL subscription can stream, with a bounded buffer per subscriber and one owner for the
 * listeners: they are removed as soon as the stream stops — the consumer returns or throws (the
 * client unsubscribed or disconnected), the producer ends it, or the buffer overflows.
 *
 * Errors travel in-band: a failure is yielded as a {@link StreamFailure} item, and the
 * subscription field's `resolve` rethrows it (see {@link unwrapStreamItem}). That way the client
 * receives a normal result with `errors` (masked and coded like any other error) instead of an
 * iterator that rejects, which SSE transports turn into a torn connection.
 */
import type { EventEmitter } from 'node:events';

/** An error to deliver to the subscriber as the stream's last result. */
export class StreamFailure {
  constructor(readonly error: Error) {}
}

/** What a channel yields: an event, or one final failure. */
export type StreamItem<T> = T | StreamFailure;

/** Returns the event, or throws the failure it carries (call it from the field's `resolve`). */
export function unwrapStreamItem<T>(item: StreamItem<T>): T {
  if (item instanceof StreamFailure) throw item.error;
  return item;
}

/**
 * What a push does when the subscriber is `capacity` items (or `capacityBytes`) behind:
 * - `drop-oldest`: forget the oldest buffered item (for streams where the newest state matters);
 * - `fail`: keep what is buffered, drop the new item and end the stream with `overflowError()`
 *   after the buffered items (for streams that must have no gaps: the client resumes).
 */
export type OverflowPolicy = 'drop-oldest' | 'fail';

/** Which bound a push would pass: the number of items, or their size. */
export type OverflowCause = 'items' | 'bytes';

export interface EventChannelOptions<T = unknown> {
  /** The most items buffered for a subscriber that does not keep up. At least 1. */
  readonly capacity: number;
  /**
   * With {@link sizeOf}: the most bytes of live items buffered for a subscriber that does not
   * keep up (one item is always accepted, whatever its size). For items whose size varies a lot
   * (log lines are up to 16 Ki characters), so that the bound is one of memory, not only of count.
   */
  readonly capacityBytes?: number;
  /** The size of an item in bytes, as {@link capacityBytes} counts it. */
  readonly sizeOf?: (item: T) => number;
  readonly overflow: OverflowPolicy;
  /** The error delivered on overflow under the `fail` policy; `cause` says which bound was passed. */
  readonly overflowError?: (cause: OverflowCause) => Error;
  /**
   * Coalescing for a subscriber that is far behind: once `after` live items wait, a new item
   * replaces the waiting one with the same key (`by`), so such a subscriber holds at most `after`
   * items plus one per key (e.g. the newest sample of each container), in the order of their
   * latest arrival. A subscriber that keeps up misses nothing.
   */
  readonly coalesce?: { readonly by: (item: T) => string; readonly after: number };
}

/** Default per-subscriber buffer size. */
export const DEFAULT_STREAM_CAPACITY = 256;

/**
 * How long a consumer may take buffered items one after another in one chain of microtasks
 * before the next one is handed out on the next turn of the event loop (see `next()`).
 */
export const TAKE_SLICE_MS = 2;

type Resolver<T> = (result: IteratorResult<StreamItem<T>, undefined>) => void;

/**
 * A bounded single-consumer queue of events exposed as an async iterator.
 *
 * Lifecycle: `open` (accepts pushes) → `ending` (stopped accepting; buffered items still drain)
 * → `closed`. Stop hooks (listener removal) run once, on leaving `open`; close hooks run once,
 * on reaching `closed`.
 */
export class EventChannel<T> implements AsyncIterableIterator<StreamItem<T>, undefined>, AsyncDisposable {
  readonly #capacity: number;
  readonly #overflow: OverflowPolicy;
  readonly #overflowError: (cause: OverflowCause) => Error;
  readonly #coalesce: { readonly by: (item: T) => string; readonly after: number } | undefined;
  readonly #capacityBytes: number;
  readonly #sizeOf: ((item: T) => number) | undefined;
  #buffer: StreamItem<T>[] = [];
  /** How many items at the front of the buffer are backlog, which the capacity does not count. */
  #backlog = 0;
  /** The bytes of the buffered live items, and of the backlog, when items are weighed. */
  #liveBytes = 0;
  #backlogBytes = 0;
  /** The producer's pull, called when the consumer has taken every buffered item (see {@link setPull}). */
  #pull: (() => void) | undefined;
  /** The pull scheduled for the next turn of the event loop, if any (see {@link setPull}). */
  #pullTimer: NodeJS.Immediate | undefined;
  #readers: Resolver<T>[] = [];
  /** When the consumer's current run of takes from the buffer began; reset on the next turn. */
  #takingSince: number | undefined;
  #takeTimer: NodeJS.Immediate | undefined;
  #state: 'open' | 'ending' | 'closed' = 'open';
  #stopHooks: (() => void)[] = [];
  #closeHooks: (() => void)[] = [];
  #dropped = 0;

  constructor(options: EventChannelOptions<T>) {
    if (!Number.isSafeInteger(options.capacity) || options.capacity < 1) {
      throw new RangeError(`EventChannel capacity must be a positive integer, got ${options.capacity}`);
    }
    this.#capacity = options.capacity;
    this.#overflow = options.overflow;
    if (options.capacityBytes !== undefined && !(options.capacityBytes > 0)) {
      throw new RangeError(`EventChannel capacityBytes must be positive, got ${options.capacityBytes}`);
    }
    this.#overflowError = options.overflowError ?? (() => new Error('The subscriber fell too far behind'));
    this.#coalesce = options.coalesce;
    this.#sizeOf = options.sizeOf;
    this.#capacityBytes = options.sizeOf === undefined ? Number.POSITIVE_INFINITY : (options.capacityBytes ?? Number.POSITIVE_INFINITY);
  }

  /** Whether pushes are still accepted. */
  get isOpen(): boolean {
    return this.#state === 'open';
  }

  get isClosed(): boolean {
    return this.#state === 'closed';
  }

  /** Items waiting for the consumer. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Bytes of the items waiting for the consumer, backlog included (0 unless the channel weighs its items). */
  get bufferedBytes(): number {
    return this.#liveBytes + this.#backlogBytes;
  }

  /** Items forgotten: under the `drop-oldest` policy, and replaced by a newer one of their key. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Queues an event. Returns false when the channel no longer accepts events. */
  push(value: T): boolean {
    if (this.#state !== 'open') return false;
    const reader = this.#readers.shift();
    if (reader) {
      reader({ done: false, value });
      return true;
    }
    if (this.#coalesce && this.#buffer.length - this.#backlog >= this.#coalesce.after) this.#forgetOlderOfKey(this.#coalesce.by(value));
    const bytes = this.#sizeOf?.(value) ?? 0;
    const cause = this.#overflowCause(bytes);
    if (cause) {
      if (this.#overflow === 'fail') {
        this.fail(this.#overflowError(cause));
        return false;
      }
      do {
        this.#forgetAt(this.#backlog);
        this.#dropped += 1;
      } while (this.#overflowCause(bytes));
    }
    this.#buffer.push(value);
    this.#liveBytes += bytes;
    return true;
  }

  /**
   * Sets the producer's pull: a function the channel calls while it is open, on the next turn
   * of the event loop, whenever the consumer has taken the last buffered item or asks for one
   * with none buffered. A producer that reads from a store in pages (with {@link pushBacklog})
   * reads its next page there, so that a subscriber holds one page at a time and a page is read
   * only once the previous one is consumed.
   *
   * The pull is deferred, not called from inside `next()`: a consumer that reads as fast as it
   * can would otherwise replay a whole log in one chain of microtasks, page after page, and
   * hold the event loop (health checks, other clients) for hundreds of milliseconds. A pull
   * that throws fails the stream with its error.
   */
  setPull(pull: (() => void) | undefined): void {
    this.#pull = pull;
  }

  /**
   * Queues items that are already held in memory elsewhere (a replay of a bounded history)
   * without counting them against the capacity. Only before any live item is buffered.
   */
  pushBacklog(items: readonly T[]): void {
    if (this.#state !== 'open' || items.length === 0) return;
    if (this.#buffer.length !== this.#backlog) throw new Error('pushBacklog must come before live items');
    let start = 0;
    for (const reader of this.#readers.splice(0, items.length)) {
      reader({ done: false, value: items[start] as T });
      start += 1;
    }
    for (let index = start; index < items.length; index += 1) {
      const item = items[index] as T;
      this.#buffer.push(item);
      if (this.#sizeOf) this.#backlogBytes += this.#sizeOf(item);
    }
    this.#backlog += items.length - start;
  }

  /** Stops accepting events; the consumer gets the buffered ones, then the end of the stream. */
  end(): void {
    if (this.#state !== 'open') return;
    this.#state = 'ending';
    this.#runStopHooks();
    this.#settleIfDrained();
  }

  /** Like {@link end}, with `error` delivered after the buffered events. */
  fail(error: Error): void {
    if (this.#state !== 'open') return;
    const reader = this.#readers.shift();
    if (reader) reader({ done: false, value: new StreamFailure(error) });
    else this.#buffer.push(new StreamFailure(error));
    this.end();
  }

  /** Ends the stream at once, dropping buffered events. */
  close(): void {
    if (this.#state === 'closed') return;
    const wasOpen = this.#state === 'open';
    this.#state = 'closed';
    this.#buffer = [];
    this.#backlog = 0;
    this.#liveBytes = 0;
    this.#backlogBytes = 0;
    this.#pull = undefined;
    if (this.#pullTimer !== undefined) clearImmediate(this.#pullTimer);
    this.#pullTimer = undefined;
    if (this.#takeTimer !== undefined) clearImmediate(this.#takeTimer);
    this.#takeTimer = undefined;
    this.#takingSince = undefined;
    if (wasOpen) this.#runStopHooks();
    for (const reader of this.#readers.splice(0)) reader({ done: true, value: undefined });
    for (const hook of this.#closeHooks.splice(0)) hook();
  }

  /** Runs `hook` once when the channel stops accepting events (at once if it already has). */
  onStop(hook: () => void): void {
    if (this.#state === 'open') this.#stopHooks.push(hook);
    else hook();
  }

  /** Runs `hook` once when the channel is closed (at once if it already is). */
  onClose(hook: () => void): void {
    if (this.#state === 'closed') hook();
    else this.#closeHooks.push(hook);
  }

  /**
   * Subscribes `listener` to `event` on `emitter` until the channel stops.
   * The listener is attached now and removed by the channel's stop hooks.
   */
  listen<Events extends Record<keyof Events, unknown[]>, Name extends keyof Events & string>(
    emitter: EventEmitter<Events>,
    event: Name,
    listener: (...args: Events[Name]) => void,
  ): void {
    if (this.#state !== 'open') return;
    // EventEmitter's generic listener type does not resolve for a generic event name.
    const untyped = emitter as unknown as EventEmitter;
    const handler = listener as (...args: unknown[]) => void;
    untyped.on(event, handler);
    this.onStop(() => untyped.off(event, handler));
  }

  next(): Promise<IteratorResult<StreamItem<T>, undefined>> {
    if (this.#buffer.length === 0) this.#pullIfOpen();
    if (this.#buffer.length > 0) {
      const value = this.#buffer.shift() as StreamItem<T>;
      const bytes = this.#sizeOf && !(value instanceof StreamFailure) ? this.#sizeOf(value) : 0;
      if (this.#backlog > 0) {
        this.#backlog -= 1;
        this.#backlogBytes -= bytes;
      } else {
        this.#liveBytes -= bytes;
      }
      if (this.#buffer.length === 0) {
        this.#liveBytes = 0;
        this.#backlogBytes = 0;
        this.#pullIfOpen();
      }
      // A subscriber that fell behind (up to `capacity` lines of a chatty run) would otherwise
      // take its whole buffer in one chain of microtasks, each item executed and sent in it:
      // 1,000 log lines held the event loop for about 100 ms.
      if (this.#takenLong()) return new Promise((resolve) => setImmediate(resolve, { done: false, value }));
      return Promise.resolve({ done: false, value });
    }
    if (this.#state !== 'open') {
      this.close();
      return Promise.resolve({ done: true, value: undefined });
    }
    return new Promise((resolve) => this.#readers.push(resolve));
  }

  /** The consumer is done (the client unsubscribed or went away). */
  return(): Promise<IteratorResult<StreamItem<T>, undefined>> {
    this.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  throw(error?: unknown): Promise<IteratorResult<StreamItem<T>, undefined>> {
    this.close();
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  [Symbol.asyncDispose](): Promise<void> {
    // The executor runs at once, and a throw from close() becomes the rejection, as in an async method.
    return new Promise((resolve) => {
      this.close();
      resolve();
    });
  }

  /** Drops the waiting live item with the same key as a new one, if any. */
  #forgetOlderOfKey(key: string): void {
    const coalesceBy = this.#coalesce?.by;
    if (!coalesceBy) return;
    for (let index = this.#backlog; index < this.#buffer.length; index += 1) {
      const item = this.#buffer[index];
      if (!(item instanceof StreamFailure) && coalesceBy(item as T) === key) {
        this.#forgetAt(index);
        this.#dropped += 1;
        return;
      }
    }
  }

  /** Which bound accepting a live item of `bytes` would pass, if any. */
  #overflowCause(bytes: number): OverflowCause | undefined {
    const live = this.#buffer.length - this.#backlog;
    if (live >= this.#capacity) return 'items';
    if (live > 0 && this.#liveBytes + bytes > this.#capacityBytes) return 'bytes';
    return undefined;
  }

  /** Removes the live item at `index` of the buffer. */
  #forgetAt(index: number): void {
    const [item] = this.#buffer.splice(index, 1);
    if (this.#sizeOf && item !== undefined && !(item instanceof StreamFailure)) this.#liveBytes -= this.#sizeOf(item);
  }

  /** True once this turn's run of takes from the buffer has lasted {@link TAKE_SLICE_MS}; the first take starts it. */
  #takenLong(): boolean {
    const now = performance.now();
    if (this.#takingSince === undefined) {
      this.#takingSince = now;
      this.#takeTimer = setImmediate(() => {
        this.#takingSince = undefined;
        this.#takeTimer = undefined;
      });
      return false;
    }
    return now - this.#takingSince >= TAKE_SLICE_MS;
  }

  #pullIfOpen(): void {
    if (this.#state !== 'open' || this.#pull === undefined || this.#pullTimer !== undefined) return;
    this.#pullTimer = setImmediate(() => {
      this.#pullTimer = undefined;
      if (this.#state !== 'open' || this.#buffer.length > 0) return;
      try {
        this.#pull?.();
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  #runStopHooks(): void {
    for (const hook of this.#stopHooks.splice(0)) hook();
  }

  /** When ending with nothing left to hand out, completes waiting readers and closes. */
  #settleIfDrained(): void {
    if (this.#state === 'ending' && this.#buffer.length === 0) this.close();
  }
}
