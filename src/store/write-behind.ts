/**
 * Buffers writes for a moment and hands them to `write` in batches: at once when `batchSize`
 * items (or `batchWeight`) wait, otherwise after `delayMs` (0: on the next turn of the event loop). One transaction per batch instead of
 * one per item keeps a chatty run from blocking the event loop. Readers call {@link flush} first
 * so they see every item that could be written.
 *
 * No write done in the background holds the event loop for long: a batch holds at most
 * `batchWeight` (a transaction of 512 lines of 1,000 characters took some 40 ms), a push writes
 * at most one batch, and a backlog (after a failed write, or many small batches) is written a
 * slice of {@link FLUSH_SLICE_MS} at a time, the rest on the next turn. Only {@link flush}, for a
 * reader that must see everything, writes all at once.
 *
 * A batch that fails to write is kept, in order, and the fault is reported to the store's
 * {@link StoreHealth}, which retries it with a backoff; meanwhile new items wait behind it,
 * nothing is thrown into the event loop, and at most `maxPending` items are kept: {@link push}
 * refuses more (the caller counts what it drops).
 */
import { PendingItems, type PendingWritesOptions } from './shared/pending-writes.js';

/** How long a write in the background may go on writing batches before the rest waits for the next turn. */
export const FLUSH_SLICE_MS = 10;

export interface WriteBehindOptions<T> extends PendingWritesOptions<T> {
  /** Writes one batch, in one transaction; throws if nothing of it was written. */
  readonly write: (batch: readonly T[]) => void;
  /** The most weight (in `weightOf` units) a batch holds, at least one item; default: no bound. */
  readonly batchWeight?: number;
}

export class WriteBehind<T> {
  /** A batch is written at once, so a replaced item cannot be in flight: it keeps its place. */
  private readonly pending: PendingItems<T>;
  private scheduled = false;

  constructor(private readonly options: WriteBehindOptions<T>) {
    this.pending = new PendingItems<T>({ ...options, replaced: 'inPlace' });
  }

  /** Items waiting to be written. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Queues an item; false (and the item is not kept) when it would take more than `maxPending`
   * to wait, unless `evenIfFull`.
   */
  push(item: T, evenIfFull = false): boolean {
    if (!this.pending.add(item, evenIfFull)) return false;
    if (this.options.health.isFailing(this.options.what)) return true;
    if (this.pending.size >= this.options.batchSize || this.pending.weight >= (this.options.batchWeight ?? Infinity)) {
      // One batch now; a backlog behind it is left to the slices in the background.
      if (this.inBackground(() => this.writeBatch()) && this.pending.size > 0) this.schedule(0);
    } else this.schedule(this.options.delayMs ?? 0);
    return true;
  }

  /**
   * Writes an item now (with anything waiting before it), as a record written as it happens; it
   * waits like the others when that fails. False when it could not be written now.
   */
  writeNow(item: T): boolean {
    this.pending.add(item, true);
    return this.flush();
  }

  /** The waiting item with this key (see `keyOf`). */
  get(key: string): T | undefined {
    return this.pending.get(key);
  }

  /** The waiting items, oldest first. */
  waiting(): T[] {
    return this.pending.waiting();
  }

  /**
   * Writes what waits, now. False when something could not be written (it stays, and the
   * store's health retries it); while a retry is due, leaves the writing to it.
   */
  flush(): boolean {
    if (this.pending.size === 0) return true;
    const { health, what } = this.options;
    if (health.isFailing(what)) return false;
    try {
      this.writeAll();
      return true;
    } catch (error) {
      health.failed(what, error, () => this.retry());
      return false;
    }
  }

  /** Schedules a slice of writing in the background, unless one is. */
  private schedule(delayMs: number): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const writeIfOpen = () => {
      this.scheduled = false;
      if (this.options.isOpen?.() ?? true) this.writeSlice();
    };
    if (delayMs > 0) setTimeout(writeIfOpen, delayMs).unref();
    else setImmediate(writeIfOpen);
  }

  /** Batches for up to {@link FLUSH_SLICE_MS}; the rest on the next turn. */
  private writeSlice(): void {
    if (this.pending.size === 0 || this.options.health.isFailing(this.options.what)) return;
    const startedAt = performance.now();
    const written = this.inBackground(() => {
      do this.writeBatch();
      while (this.pending.size > 0 && performance.now() - startedAt < FLUSH_SLICE_MS);
    });
    if (written && this.pending.size > 0) this.schedule(0);
  }

  /** Runs a background write; a failure goes to the store's health, which retries it. False when it failed. */
  private inBackground(write: () => void): boolean {
    try {
      write();
      return true;
    } catch (error) {
      this.options.health.failed(this.options.what, error, () => this.retry());
      return false;
    }
  }

  /** The health's retry: the oldest batch now (throws if it cannot be written), the rest in slices. */
  private retry(): void {
    this.writeBatch();
    if (this.pending.size > 0) this.schedule(0);
  }

  /** Writes every waiting item in batches, oldest first; throws at the first batch that fails, keeping it and the rest. */
  private writeAll(): void {
    while (this.pending.size > 0 && (this.options.isOpen?.() ?? true)) this.writeBatch();
  }

  /** Writes the oldest batch (none once the destination is closed); throws if it fails, keeping it. */
  private writeBatch(): void {
    if (this.pending.size === 0 || !(this.options.isOpen?.() ?? true)) return;
    const batch = this.pending.oldest(this.options.batchSize, this.options.batchWeight);
    this.options.write(batch.map(([, item]) => item));
    this.pending.written(batch);
  }
}
