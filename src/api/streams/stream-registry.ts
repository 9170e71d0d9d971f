/**
 * The owner of every open subscription stream of one server. Streams leave it when they close;
 * the server ends the remaining ones when it shuts down, and refuses new ones after that.
 */
import { BosunError } from '../../errors.js';
import { DEFAULT_STREAM_CAPACITY, EventChannel, type EventChannelOptions } from './event-channel.js';

export interface StreamRegistryOptions {
  /** Per-subscriber buffer size for streams that do not set their own. */
  readonly defaultCapacity?: number;
}

/** What the registry needs of a stream. */
interface TrackedStream {
  readonly buffered: number;
  end(): void;
  close(): void;
}

export class StreamRegistry {
  readonly #open = new Set<TrackedStream>();
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
