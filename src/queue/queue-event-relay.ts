/**
 * How the in-process queue's events reach their listeners: a job of its own, apart from keeping the
 * line. Three rules:
 * - Ask before building: {@link QueueEventRelay.listening} lets the queue skip an event (and the
 *   stats or position objects it carries) that nobody would receive.
 * - A listener's error never reaches the queue's bookkeeping (an emit may run inside p-queue): it is
 *   rethrown on the next tick, as an uncaught exception.
 * - While held, events wait in order: a run that starts inside `enqueue` emits `started` from within
 *   p-queue's `add()`, but its `enqueued` must come first.
 */
import type { EventEmitter } from 'node:events';
import type { ExecutionQueueEventName, ExecutionQueueEvents } from './execution-queue.js';

type HeldEvent = { [K in ExecutionQueueEventName]: { readonly name: K; readonly args: ExecutionQueueEvents[K] } }[ExecutionQueueEventName];

type EmitFunction = (name: ExecutionQueueEventName, ...args: ExecutionQueueEvents[ExecutionQueueEventName]) => boolean;

export class QueueEventRelay {
  readonly #events: EventEmitter<ExecutionQueueEvents>;
  /** Set while an action is held: its events wait here. */
  #held: HeldEvent[] | undefined;

  constructor(events: EventEmitter<ExecutionQueueEvents>) {
    this.#events = events;
  }

  /** Whether anyone listens to `name` now. */
  listening(name: ExecutionQueueEventName): boolean {
    return this.#events.listenerCount(name) > 0;
  }

  /** Delivers the event now, or after the current hold is released. */
  emit<K extends ExecutionQueueEventName>(name: K, ...args: ExecutionQueueEvents[K]): void {
    this.#route({ name, args } as HeldEvent);
  }

  /**
   * Runs `action` holding the events it emits; returns the function that delivers them (into an outer
   * hold when there is one, so a task that enqueues from its synchronous part keeps the order).
   */
  hold(action: () => void): () => void {
    const outer = this.#held;
    const held: HeldEvent[] = [];
    this.#held = held;
    try {
      action();
    } finally {
      this.#held = outer;
    }
    return () => {
      for (const event of held) this.#route(event);
    };
  }

  #route(event: HeldEvent): void {
    if (this.#held !== undefined) {
      this.#held.push(event);
      return;
    }
    try {
      // Node's typings cannot relate a name to its payload across the union; HeldEvent keeps the pair checked.
      (this.#events as unknown as { emit: EmitFunction }).emit(event.name, ...event.args);
    } catch (error) {
      process.nextTick(() => {
        throw error;
      });
    }
  }
}
