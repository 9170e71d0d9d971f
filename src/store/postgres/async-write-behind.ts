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
import type { StoreHealth } from '../store-health.js';

export interface AsyncWriteBehindOptions<T> {
  /** What the items are, in the store's health report and logs ("log lines"). */
  readonly what: string;
  /** Writes one batch, in one transaction; rejects if nothing of it was written. */
  readonly write: (batch: readonly T[]) => Promise<void>;
  readonly batchSize: number;
  /** How much may wait at most (while writes fail), in `weightOf` units; {@link AsyncWriteBehind.push} refuses more. */
  readonly maxPending: number;
  /** An item's share of `maxPending`; default 1 (`maxPending` counts items). */
  readonly weightOf?: (item: T) => number;
  readonly health: StoreHealth;
  /** How long an item may wait for others to join its batch; 0: until the next turn of the event loop. */
  readonly delayMs?: number;
  /** False once the destination is closed: nothing more is written. */
  readonly isOpen?: () => boolean;
  /** When given, a new item replaces the waiting one with the same key (a newer snapshot of one record). */
  readonly keyOf?: (item: T) => string;
}

export class AsyncWriteBehind<T> {
  /** In order of arrival; keyed by `keyOf`, or by a counter. */
  private readonly pending = new Map<string | number, T>();
  private pendingWeight = 0;
  private nextKey = 0;
  private scheduled = false;
  /** The write in progress (a flush's or a retry's): one at a time, so batches commit in order. */
  private writing: Promise<void> | undefined;

  constructor(private readonly options: AsyncWriteBehindOptions<T>) {}

  /** Items waiting to be written (including those of the batch being written). */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Queues an item; false (and the item is not kept) when it would take more than `maxPending`
   * to wait, unless `evenIfFull`.
   */
  push(item: T, evenIfFull = false): boolean {
    if (!this.enqueue(item, evenIfFull)) return false;
    this.schedule();
    return true;
  }

  /** Queues an item to be written as soon as possible (a record written as it happens), with anything waiting before it. */
  writeSoon(item: T): void {
    this.enqueue(item, true);
    void this.flush();
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
   * Writes what waits now (after the write in progress). Resolves false when something could
   * not be written (it stays, and the store's health retries it); while a retry is due, leaves
   * the writing to it. Never rejects.
   */
  async flush(): Promise<boolean> {
    this.scheduled = false;
    // What waits now; items that arrive meanwhile are left to their own flush.
    const target = this.nextKey;
    const keys = new Set(this.pending.keys());
    for (;;) {
      if (this.writing) {
        await this.writing;
        continue;
      }
      if (!this.owes(keys, target)) return true;
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

  /** Whether any of `keys` (or, unkeyed, any item numbered below `target`) still waits. */
  private owes(keys: ReadonlySet<string | number>, target: number): boolean {
    if (this.pending.size === 0) return false;
    if (this.options.keyOf) {
      for (const key of keys) if (this.pending.has(key)) return true;
      return false;
    }
    const oldest = this.pending.keys().next().value as number;
    return oldest < target;
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

  private enqueue(item: T, evenIfFull: boolean): boolean {
    const key = this.options.keyOf ? this.options.keyOf(item) : this.nextKey++;
    const replaced = this.pending.get(key);
    const weight = this.weight(item) - (replaced === undefined ? 0 : this.weight(replaced));
    if (!evenIfFull && this.pendingWeight + weight > this.options.maxPending && this.pending.size > 0) return false;
    // A replaced item moves to the end: it is the newest change, written after those before it.
    if (replaced !== undefined) this.pending.delete(key);
    this.pending.set(key, item);
    this.pendingWeight += weight;
    return true;
  }

  /**
   * Writes every waiting item in batches, oldest first; rejects at the first batch that fails,
   * keeping it and the rest. An item replaced (same key) while its batch was written stays, to
   * be written in turn.
   */
  private async writeAll(): Promise<void> {
    while (this.pending.size > 0 && this.isOpen()) {
      const batch: Array<[string | number, T]> = [];
      for (const entry of this.pending) {
        batch.push(entry);
        if (batch.length === this.options.batchSize) break;
      }
      await this.options.write(batch.map(([, item]) => item));
      for (const [key, item] of batch) {
        if (this.pending.get(key) !== item) continue;
        this.pending.delete(key);
        this.pendingWeight -= this.weight(item);
      }
    }
  }

  private isOpen(): boolean {
    return this.options.isOpen?.() ?? true;
  }

  private weight(item: T): number {
    return this.options.weightOf ? this.options.weightOf(item) : 1;
  }
}
