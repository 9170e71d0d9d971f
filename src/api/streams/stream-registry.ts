/**
 * The owner of every open subscription stream of one server. Streams leave it when they close;
 * the server ends the remaining ones when it shuts down, and refuses new ones after that. It also
 * owns the fanouts that deliver a service's events to the streams of their key only (see
 * {@link StreamRegistry.fanout}).
 */
import type { EventEmitter } from 'node:events';
import { BosunError } from '../../errors.js';
import { DEFAULT_STREAM_CAPACITY, EventChannel, type EventChannelOptions } from './event-channel.js';
import { KeyedFanout } from './keyed-fanout.js';

export interface StreamRegistryOptions {
  /** Per-subscriber buffer size for streams that do not set their own. */
  readonly defaultCapacity?: number;
}

/** What the registry needs of a stream. */
interface TrackedStream {
  readonly buffered: number;
  readonly bufferedBytes: number;
  end(): void;
  close(): void;
}

export class StreamRegistry {
  readonly #open = new Set<TrackedStream>();
  readonly #fanouts = new WeakMap<object, Map<string, KeyedFanout<unknown>>>();
  readonly #defaultCapacity: number;
  #shutDown = false;

  constructor(options: StreamRegistryOptions = {}) {
    this.#defaultCapacity = options.defaultCapacity ?? DEFAULT_STREAM_CAPACITY;
  }

  /** Streams that have not closed yet. */
  get size(): number {
    return this.#open.size;
  }

  /** Items waiting in every open stream for their subscribers (what slow subscribers make bosun hold). */
  get bufferedItems(): number {
    let total = 0;
    for (const channel of this.#open) total += channel.buffered;
    return total;
  }

  /** Bytes of the live items waiting in every open stream that weighs its items (log streams). */
  get bufferedBytes(): number {
    let total = 0;
    for (const channel of this.#open) total += channel.bufferedBytes;
    return total;
  }

  get defaultCapacity(): number {
    return this.#defaultCapacity;
  }

  /**
   * Opens a tracked channel.
   * @throws BosunError SHUTTING_DOWN after {@link endAll}.
   */
  open<T>(options: Partial<EventChannelOptions<T>> & Pick<EventChannelOptions<T>, 'overflow'>): EventChannel<T> {
    if (this.#shutDown) throw new BosunError('SHUTTING_DOWN', 'The server is shutting down; no new subscriptions');
    const channel = new EventChannel<T>({ capacity: this.#defaultCapacity, ...options });
    this.#open.add(channel);
    channel.onClose(() => this.#open.delete(channel));
    return channel;
  }

  /**
   * The one fanout of `emitter`'s `event` by `keyOf` (created at the first call; later calls for
   * the same emitter and event get it, and their `keyOf` is not used: an event has one key).
   * Streams subscribe to their key there rather than listen on the emitter, so that an event
   * costs one lookup, not one call per open stream.
   */
  fanout<Events extends Record<keyof Events, unknown[]>, Name extends keyof Events & string>(
    emitter: EventEmitter<Events>,
    event: Name,
    keyOf: (item: Events[Name][0]) => string,
  ): KeyedFanout<Events[Name][0]> {
    let byEvent = this.#fanouts.get(emitter);
    if (!byEvent) {
      byEvent = new Map();
      this.#fanouts.set(emitter, byEvent);
    }
    let fanout = byEvent.get(event);
    if (!fanout) {
      // EventEmitter's generic listener type does not resolve for a generic event name.
      fanout = new KeyedFanout<unknown>(emitter as unknown as EventEmitter, event, keyOf);
      byEvent.set(event, fanout);
    }
    return fanout;
  }

  /** Refuses new streams and ends the open ones: subscribers get what is buffered, then completion. */
  endAll(): void {
    this.#shutDown = true;
    for (const channel of this.#open) channel.end();
  }

  /** Refuses new streams and closes the open ones at once. */
  closeAll(): void {
    this.#shutDown = true;
    for (const channel of [...this.#open]) channel.close();
  }
}
