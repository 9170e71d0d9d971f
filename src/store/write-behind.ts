/**
 * Buffers writes for a moment and hands them to `write` in batches: at once when `batchSize`
 * items wait, otherwise after `delayMs` (0: on the next turn of the event loop). One transaction per batch instead of
 * one per item keeps a chatty run from blocking the event loop. Readers call {@link flush} first
 * so they see every item that could be written.
 *
 * A batch that fails to write is kept, in order, and the fault is reported to the store's
 * {@link StoreHealth}, which retries it with a backoff; meanwhile new items wait behind it,
 * nothing is thrown into the event loop, and at most `maxPending` items are kept: {@link push}
 * refuses more (the caller counts what it drops).
 */
import type { StoreHealth } from './store-health.js';

export interface WriteBehindOptions<T> {
  /** What the items are, in the store's health report and logs ("log lines"). */
  readonly what: string;
  /** Writes one batch, in one transaction; throws if nothing of it was written. */
  readonly write: (batch: readonly T[]) => void;
  readonly batchSize: number;
  /** How much may wait at most (while writes fail), in `weightOf` units; {@link WriteBehind.push} refuses more. */
  readonly maxPending: number;
  /** An item's share of `maxPending`; default 1 (`maxPending` counts items). */
  readonly weightOf?: (item: T) => number;
  readonly health: StoreHealth;
  /** How long an item may wait for others to join its batch; 0: until the next turn of the event loop. */
  readonly delayMs?: number;
  /** False once the destination is closed: a scheduled flush then does nothing. */
  readonly isOpen?: () => boolean;
  /** When given, a new item replaces the waiting one with the same key (a newer snapshot of one record). */
  readonly keyOf?: (item: T) => string;
}

export class WriteBehind<T> {
  /** In order of arrival; keyed by `keyOf`, or by a counter. */
  private readonly pending = new Map<string | number, T>();
  private pendingWeight = 0;
  private nextKey = 0;
  private scheduled = false;

  constructor(private readonly options: WriteBehindOptions<T>) {}

  /** Items waiting to be written. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Queues an item; false (and the item is not kept) when it would take more than `maxPending`
   * to wait, unless `evenIfFull`.
   */
  push(item: T, evenIfFull = false): boolean {
    if (!this.enqueue(item, evenIfFull)) return false;
    if (this.options.health.isFailing(this.options.what)) return true;
    if (this.pending.size >= this.options.batchSize) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      const flushIfOpen = () => {
        if (this.options.isOpen?.() ?? true) this.flush();
        else this.scheduled = false;
      };
      const delayMs = this.options.delayMs ?? 0;
      if (delayMs > 0) setTimeout(flushIfOpen, delayMs).unref();
      else setImmediate(flushIfOpen);
    }
    return true;
  }

  /**
   * Writes an item now (with anything waiting before it), as a record written as it happens; it
   * waits like the others when that fails. False when it could not be written now.
   */
  writeNow(item: T): boolean {
    this.enqueue(item, true);
    return this.flush();
  }

  /** The waiting item with this key (see `keyOf`). */
  get(key: string): T | undefined {
    return this.pending.get(key);
  }

  /** The waiting items, oldest first. */
  waiting(): T[] {
    return [...this.pending.values()];
  }

  /**
   * Writes what waits, now. False when something could not be written (it stays, and the
   * store's health retries it); while a retry is due, leaves the writing to it.
   */
  flush(): boolean {
    this.scheduled = false;
    if (this.pending.size === 0) return true;
    const { health, what } = this.options;
    if (health.isFailing(what)) return false;
    try {
      this.writeAll();
      return true;
    } catch (error) {
      health.failed(what, error, () => this.writeAll());
      return false;
    }
  }

  private enqueue(item: T, evenIfFull: boolean): boolean {
    const key = this.options.keyOf ? this.options.keyOf(item) : this.nextKey++;
    const replaced = this.pending.get(key);
    const weight = this.weight(item) - (replaced === undefined ? 0 : this.weight(replaced));
    if (!evenIfFull && this.pendingWeight + weight > this.options.maxPending && this.pending.size > 0) return false;
    this.pending.set(key, item);
    this.pendingWeight += weight;
    return true;
  }

  /** Writes every waiting item in batches, oldest first; throws at the first batch that fails, keeping it and the rest. */
  private writeAll(): void {
    if (!(this.options.isOpen?.() ?? true)) return;
    while (this.pending.size > 0) {
      const keys: Array<string | number> = [];
      const batch: T[] = [];
      for (const [key, item] of this.pending) {
        keys.push(key);
        batch.push(item);
        if (batch.length === this.options.batchSize) break;
      }
      this.options.write(batch);
      for (const key of keys) this.pending.delete(key);
      for (const item of batch) this.pendingWeight -= this.weight(item);
    }
  }

  private weight(item: T): number {
    return this.options.weightOf ? this.options.weightOf(item) : 1;
  }
}
