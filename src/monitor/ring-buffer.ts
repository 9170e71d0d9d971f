/**
 * A fixed-capacity FIFO: pushing onto a full buffer drops the oldest item. O(1) push and shift.
 */
import { InvalidValueError } from '../errors.js';

export class RingBuffer<T> {
  readonly capacity: number;
  private readonly slots: (T | undefined)[];
  private head = 0;
  private count = 0;

  /** @throws InvalidValueError when the capacity is not a positive integer. */
  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new InvalidValueError('a ring buffer capacity that is an integer of at least 1', capacity);
    }
    this.capacity = capacity;
    this.slots = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Appends an item; returns the item dropped to make room, if any. */
  push(item: T): T | undefined {
    if (this.count === this.capacity) {
      const dropped = this.slots[this.head];
      this.slots[this.head] = item;
      this.head = (this.head + 1) % this.capacity;
      return dropped;
    }
    this.slots[(this.head + this.count) % this.capacity] = item;
    this.count += 1;
    return undefined;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count -= 1;
    return item;
  }

  oldest(): T | undefined {
    return this.count === 0 ? undefined : this.slots[this.head];
  }

  newest(): T | undefined {
    return this.count === 0 ? undefined : this.slots[(this.head + this.count - 1) % this.capacity];
  }

  /** The items, oldest first; only the last `last` of them when given. */
  toArray(last: number = this.count): T[] {
    const take = Math.max(0, Math.min(last, this.count));
    const items: T[] = [];
    for (let index = this.count - take; index < this.count; index += 1) {
      items.push(this.slots[(this.head + index) % this.capacity] as T);
    }
    return items;
  }
}
