/**
 * What both write-behinds (WriteBehind for SQLite, AsyncWriteBehind for PostgreSQL) keep alike:
 * their options, and the items waiting to be written with their weight, their bound and the
 * batches taken from them. How and when a batch is written (synchronously in slices, or one
 * asynchronous write at a time) stays with each.
 */
import type { StoreHealth } from '../store-health.js';

/** The options every write-behind takes, but for its `write`. */
export interface PendingWritesOptions<T> {
  /** What the items are, in the store's health report and logs ("log lines"). */
  readonly what: string;
  readonly batchSize: number;
  /** How much may wait at most (while writes fail), in `weightOf` units; `push` refuses more. */
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

/** A waiting item and its key (see `keyOf`), or its number in order of arrival. */
export type PendingEntry<T> = readonly [key: string | number, item: T];

/**
 * The items waiting to be written, in order of arrival, with their total weight.
 *
 * A replaced item (same key) stays in the place of the first (`replaced: 'inPlace'`), or moves
 * to the end (`'atEnd'`): where a batch is written asynchronously, the newer snapshot must be
 * written after the one in flight, not be taken for written with it.
 */
export class PendingItems<T> {
  /** In order of arrival; keyed by `keyOf`, or by a counter. */
  private readonly pending = new Map<string | number, T>();
  private totalWeight = 0;
  private counter = 0;

  constructor(
    private readonly options: Pick<PendingWritesOptions<T>, 'maxPending' | 'weightOf' | 'keyOf'> & { readonly replaced: 'inPlace' | 'atEnd' },
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** What waits, in `weightOf` units. */
  get weight(): number {
    return this.totalWeight;
  }

  /** The number the next unkeyed item will get: those below it have arrived before. */
  get nextNumber(): number {
    return this.counter;
  }

  /** The waiting item with this key (see `keyOf`). */
  get(key: string): T | undefined {
    return this.pending.get(key);
  }

  /** The waiting items, oldest first. */
  waiting(): T[] {
    return [...this.pending.values()];
  }

  /** The keys (or numbers) of the waiting items. */
  keys(): Set<string | number> {
    return new Set(this.pending.keys());
  }

  /**
   * Adds an item; false (and the item is not kept) when it would take more than `maxPending` to
   * wait, unless `evenIfFull`. One item always may wait, however heavy.
   */
  add(item: T, evenIfFull: boolean): boolean {
    const key = this.options.keyOf ? this.options.keyOf(item) : this.counter++;
    const replaced = this.pending.get(key);
    const weight = this.weightOf(item) - (replaced === undefined ? 0 : this.weightOf(replaced));
    if (!evenIfFull && this.totalWeight + weight > this.options.maxPending && this.pending.size > 0) return false;
    if (replaced !== undefined && this.options.replaced === 'atEnd') this.pending.delete(key);
    this.pending.set(key, item);
    this.totalWeight += weight;
    return true;
  }

  /** The oldest items, at most `batchSize` and `batchWeight` (but at least one), to write as one batch. */
  oldest(batchSize: number, batchWeight = Infinity): PendingEntry<T>[] {
    const batch: PendingEntry<T>[] = [];
    let weight = 0;
    for (const [key, item] of this.pending) {
      const itemWeight = this.weightOf(item);
      if (batch.length > 0 && weight + itemWeight > batchWeight) break;
      batch.push([key, item]);
      weight += itemWeight;
      if (batch.length === batchSize) break;
    }
    return batch;
  }

  /** Forgets a written batch; an item replaced (same key) since it was taken stays, to be written in turn. */
  written(batch: readonly PendingEntry<T>[]): void {
    for (const [key, item] of batch) {
      if (this.pending.get(key) !== item) continue;
      this.pending.delete(key);
      this.totalWeight -= this.weightOf(item);
    }
  }

  /** Whether any of `keys` (or, unkeyed, any item numbered below `before`) still waits. */
  owes(keys: ReadonlySet<string | number>, before: number): boolean {
    if (this.pending.size === 0) return false;
    if (this.options.keyOf) {
      for (const key of keys) if (this.pending.has(key)) return true;
      return false;
    }
    const oldest = this.pending.keys().next().value as number;
    return oldest < before;
  }

  private weightOf(item: T): number {
    return this.options.weightOf ? this.options.weightOf(item) : 1;
  }
}
