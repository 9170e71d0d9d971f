/**
 * {@link WriteBehind} for a store whose writes are asynchronous (PostgreSQL): items are buffered
 * for a moment and handed to `write` in batches, one batch at a time and in order, so a chatty
 * run costs a few multi-row INSERTs, not one round trip per line.
 *
 * An item stays in the buffer (and readable through {@link AsyncWriteBehind.waiting}) until its
 * batch is committed: a reader that awaits {@link AsyncWriteBehind.flush} and then queries sees
 * every item, written or not. A batch that fails is kept, in order, and the fault is reported to
 * the store's {@link StoreHealth}, which retries it with a backoff; meanwhile new items wait
 * behind it, nothing is thrown or rejected into the event loop, and at most `maxPending` items
 * are kept: {@link AsyncWriteBehind.push} refuses more (the caller counts what it drops).
 */
import { PendingItems, type PendingWritesOptions } from '../shared/pending-writes.js';

export interface AsyncWriteBehindOptions<T> extends PendingWritesOptions<T> {
  /** Writes one batch, in one transaction; rejects if nothing of it was written. */
  readonly write: (batch: readonly T[]) => Promise<void>;
}

export class AsyncWriteBehind<T> {
  /** A replaced item moves to the end: it is the newest change, written after those before it (and after one in flight). */
  private readonly pending: PendingItems<T>;
  private scheduled = false;
  /** The write in progress (a flush's or a retry's): one at a time, so batches commit in order. */
  private writing: Promise<void> | undefined;

  constructor(private readonly options: AsyncWriteBehindOptions<T>) {
    this.pending = new PendingItems<T>({ ...options, replaced: 'atEnd' });
  }

  /** Items waiting to be written (including those of the batch being written). */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Queues an item; false (and the item is not kept) when it would take more than `maxPending`
   * to wait, unless `evenIfFull`.
   */
  push(item: T, evenIfFull = false): boolean {
    if (!this.pending.add(item, evenIfFull)) return false;
    this.schedule();
    return true;
  }

  /** Queues an item to be written as soon as possible (a record written as it happens), with anything waiting before it. */
  writeSoon(item: T): void {
    this.pending.add(item, true);
    void this.flush();
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
   * Writes what waits now (after the write in progress). Resolves false when something could
   * not be written (it stays, and the store's health retries it); while a retry is due, leaves
   * the writing to it. Never rejects.
   */
  async flush(): Promise<boolean> {
    this.scheduled = false;
    // What waits now; items that arrive meanwhile are left to their own flush.
    const target = this.pending.nextNumber;
    const keys = this.pending.keys();
    for (;;) {
      if (this.writing) {
        await this.writing;
        continue;
      }
      if (!this.pending.owes(keys, target)) return true;
      const { health, what } = this.options;
      if (health.isFailing(what)) return false;
      if (!this.isOpen()) return false;
      let failed = false;
      const writing = this.writeAll().then(
        () => undefined,
        (error: unknown) => {
          failed = true;
          health.failed(what, error, () => this.retry());
        },
      );
      this.writing = writing;
      await writing;
      if (this.writing === writing) this.writing = undefined;
      if (failed) return false;
    }
  }

  /** The health's retry: writes everything waiting, and throws (rejects) if that fails again. */
  private async retry(): Promise<void> {
    while (this.writing) await this.writing;
    const attempt = this.writeAll();
    const writing = attempt.catch(() => undefined);
    this.writing = writing;
    try {
      await attempt;
    } finally {
      if (this.writing === writing) this.writing = undefined;
    }
    // Items that arrived while the retry ran were not scheduled (the store was failing): once
    // the health has cleared the fault (after this resolves), they get their flush.
    setImmediate(() => {
      if (this.pending.size > 0) this.schedule();
    });
  }

  private schedule(): void {
    if (this.options.health.isFailing(this.options.what) || this.scheduled) return;
    if (this.pending.size >= this.options.batchSize) {
      void this.flush();
      return;
    }
    this.scheduled = true;
    const flushIfOpen = () => {
      if (this.isOpen()) void this.flush();
      else this.scheduled = false;
    };
    const delayMs = this.options.delayMs ?? 0;
    if (delayMs > 0) setTimeout(flushIfOpen, delayMs).unref();
    else setImmediate(flushIfOpen);
  }

  /**
   * Writes every waiting item in batches, oldest first; rejects at the first batch that fails,
   * keeping it and the rest. An item replaced (same key) while its batch was written stays, to
   * be written in turn.
   */
  private async writeAll(): Promise<void> {
    while (this.pending.size > 0 && this.isOpen()) {
      const batch = this.pending.oldest(this.options.batchSize);
      await this.options.write(batch.map(([, item]) => item));
      this.pending.written(batch);
    }
  }

  private isOpen(): boolean {
    return this.options.isOpen?.() ?? true;
  }
}
