/**
 * Delivers one event of a service's EventEmitter to the listeners of its key only (a run's log
 * line to the streams that follow that run), through one listener on the emitter. Without it,
 * every stream listened on the emitter and filtered: each log line was offered to every
 * subscription of every run, so 10,000 subscriptions on a waiting run slowed another run's
 * output down tenfold. Here the cost of an event is one map lookup plus its own key's listeners,
 * whatever other keys have.
 *
 * The fanout listens on the emitter only while some key has a listener, so an idle server holds
 * no listener on its services.
 */
import type { EventEmitter } from 'node:events';

export class KeyedFanout<T> {
  readonly #byKey = new Map<string, Set<(item: T) => void>>();
  readonly #attach: () => void;
  readonly #detach: () => void;

  /**
   * @param emitter the service's emitter.
   * @param event the event whose single argument is delivered.
   * @param keyOf the key of an event, e.g. its run id.
   */
  constructor(emitter: EventEmitter, event: string, keyOf: (item: T) => string) {
    const dispatch = (item: T): void => {
      const listeners = this.#byKey.get(keyOf(item));
      if (!listeners) return;
      // A listener may unsubscribe itself or another (a stream that ends): deliver to those
      // subscribed when the event came.
      for (const listener of listeners.size === 1 ? listeners : [...listeners]) listener(item);
    };
    this.#attach = () => emitter.on(event, dispatch);
    this.#detach = () => emitter.off(event, dispatch);
  }

  /** Keys with at least one listener. */
  get keys(): number {
    return this.#byKey.size;
  }

  /** Listeners of `key`. */
  listeners(key: string): number {
    return this.#byKey.get(key)?.size ?? 0;
  }

  /** Calls `listener` with each event of `key` until the returned function is called (once is enough; more is harmless). */
  subscribe(key: string, listener: (item: T) => void): () => void {
    if (this.#byKey.size === 0) this.#attach();
    let listeners = this.#byKey.get(key);
    if (!listeners) {
      listeners = new Set();
      this.#byKey.set(key, listeners);
    }
    // Each subscription is its own entry, even for a listener function subscribed twice.
    const entry = (item: T): void => listener(item);
    listeners.add(entry);
    const own = listeners;
    return () => {
      if (!own.delete(entry)) return;
      if (own.size === 0 && this.#byKey.get(key) === own) {
        this.#byKey.delete(key);
        if (this.#byKey.size === 0) this.#detach();
      }
    };
  }
}
