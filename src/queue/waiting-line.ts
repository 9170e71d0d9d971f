/**
 * The line of waiting runs, which is also p-queue's own queue (its documented `queueClass` extension
 * point). p-queue decides *when* the next run may start (its concurrency limit, pause, resume, a
 * raised limit); this line decides *which* one (first in, first out) and is the one record of who
 * waits, in which order, and until when.
 *
 * How it is kept:
 * - An array sorted by a sequence number given on entry, with a moving head: runs leave mostly
 *   from the front, which is then O(1) (compacted now and then), not an `Array.shift()` that V8
 *   can only do in place for small arrays. A position is a binary search on the sequence number:
 *   O(log n). Leaving from the middle is a splice.
 * - Each entry comes due at its own queue deadline (a restored run's can fall before those ahead
 *   of it), through {@link DeadlineTimers}: one unref'd timer per deadline millisecond, not one per
 *   run, and no AbortController. When an entry comes due the line decides nothing: `onTimeout`
 *   does (the owner takes the entry out and says so).
 * - Entries go out in two steps. p-queue's `dequeue()` *takes* the first entry it may start (its run
 *   is handed over and it no longer counts in `size`), and the run itself removes the entry with
 *   {@link WaitingLine.takeOut} when p-queue calls it, which is at once. Until then the entry keeps its
 *   place and its clock, so there is one way out of the line and it always reports the index.
 * - An entry can be *held*: in line (it has a position, it times out) but never given to p-queue.
 *   A restored run whose deadline has already passed is held, so that it cannot start inside enqueue.
 */
import type { Queue, QueueAddOptions } from 'p-queue';
import { DeadlineTimers } from './deadline-timers.js';

/** What p-queue puts in its queue: its wrapper around one added task. */
type RunFunction = () => Promise<unknown>;

/** What the line must know of an entry; the owner's entries carry more. */
export interface LineEntry {
  readonly id: string;
  /** Epoch ms at which the entry comes due (`onTimeout`) if it is still in line. */
  readonly deadline: number;
}

/** The options p-queue's `add()` passes on to the line: `entry` is the run being added. */
export type LineOptions<T extends LineEntry> = QueueAddOptions & { readonly entry?: T };

export interface WaitingLineOptions<T extends LineEntry> {
  /** The clock in epoch milliseconds. */
  readonly now: () => number;
  /** Called when an entry's deadline passes while it is still in line; the line keeps it until {@link WaitingLine.takeOut}. */
  readonly onTimeout: (entry: T) => void;
}

interface Slot<T> {
  readonly entry: T;
  readonly seq: number;
  /** p-queue's run; undefined once taken by `dequeue()`, and for a held entry. */
  run: RunFunction | undefined;
}

/** Dequeued slots left before the head are dropped once there are this many and they are half the array. */
const COMPACT_AFTER = 1024;

export class WaitingLine<T extends LineEntry> implements Queue<RunFunction, LineOptions<T>> {
  /** Sorted by `seq`; slots before `#head` have left (undefined). */
  #slots: Array<Slot<T> | undefined> = [];
  #head = 0;
  readonly #byId = new Map<string, Slot<T>>();
  #nextSeq = 0;
  /** Slots p-queue may still take (those with a run). */
  #startable = 0;
  readonly #deadlines: DeadlineTimers<Slot<T>>;

  constructor(options: WaitingLineOptions<T>) {
    const { now, onTimeout } = options;
    this.#deadlines = new DeadlineTimers<Slot<T>>({ now, onDue: (slot) => onTimeout(slot.entry) });
  }

  /**
   * A constructor to give p-queue as `queueClass`: p-queue builds its queue itself (`new queueClass()`,
   * no arguments), and a constructor that returns an object yields that object, so p-queue uses this line.
   * Never call p-queue's `clear()` (it would "build" this same line again and leave it as it is): use {@link clear}.
   */
  asQueueClass(): new () => WaitingLine<T> {
    return constructorOf(this);
  }

  // The p-queue side.

  /** How many entries p-queue may still take. */
  get size(): number {
    return this.#startable;
  }

  /**
   * Called by p-queue's `add()` with its run and `options.entry`: puts the entry at the back of the line.
   * @throws TypeError when `options.entry` is missing (an `add()` that did not come from the owner).
   */
  enqueue(run: RunFunction, options?: Partial<LineOptions<T>>): void {
    const entry = options?.entry;
    if (entry === undefined) throw new TypeError('WaitingLine.enqueue needs options.entry');
    this.#append(entry, run);
  }

  /** Called by p-queue when a slot is free: takes the first entry that may start and returns its run. */
  dequeue(): RunFunction | undefined {
    if (this.#startable === 0) return undefined;
    // The first startable slot is the head unless held or already taken slots are ahead of it.
    for (let index = this.#head; index < this.#slots.length; index += 1) {
      const slot = this.#slots[index]!;
      const { run } = slot;
      if (run === undefined) continue;
      slot.run = undefined;
      this.#startable -= 1;
      return run;
    }
    return undefined;
  }

  /** p-queue's `sizeBy()`: every entry has the default priority 0. */
  filter(options: Readonly<Partial<LineOptions<T>>>): RunFunction[] {
    if ((options.priority ?? 0) !== 0) return [];
    const runs: RunFunction[] = [];
    for (let index = this.#head; index < this.#slots.length; index += 1) {
      const run = this.#slots[index]!.run;
      if (run !== undefined) runs.push(run);
    }
    return runs;
  }

  /** p-queue's `setPriority()`: the line is first in, first out, so there is nothing to set. */
  setPriority(id: string): void {
    throw new Error(`Cannot set the priority of ${id}: the waiting line is first in, first out`);
  }

  /**
   * p-queue's `remove()`, which it calls when the signal given to `add()` for a waiting task aborts:
   * the entry leaves the line. The owner gives no such signal (it takes entries out itself,
   * {@link takeOut}), so this is only for a p-queue used on its own.
   */
  remove(id: string): void {
    const entry = this.get(id);
    if (entry !== undefined) this.takeOut(entry);
  }

  // The owner's side.

  /** Puts an entry at the back of the line that p-queue never gets: it waits until it times out or is removed. */
  hold(entry: T): void {
    this.#append(entry, undefined);
  }

  /** Entries in line, including held ones and one being handed to p-queue. */
  get length(): number {
    return this.#slots.length - this.#head;
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  get(id: string): T | undefined {
    return this.#byId.get(id)?.entry;
  }

  /** 1 = front; 0 = not in line. */
  position(id: string): number {
    const slot = this.#byId.get(id);
    return slot === undefined ? 0 : this.#indexOf(slot) - this.#head + 1;
  }

  /**
   * Takes `entry` out of the line; it no longer comes due. Returns the 0-based index it had (the entries
   * from there on moved up by one), or -1 when it is not in line (another entry may have its id now).
   */
  takeOut(entry: T): number {
    const slot = this.#byId.get(entry.id);
    if (slot === undefined || slot.entry !== entry) return -1;
    this.#deadlines.delete(slot, entry.deadline);
    this.#byId.delete(entry.id);
    if (slot.run !== undefined) this.#startable -= 1;
    const index = this.#indexOf(slot);
    const offset = index - this.#head;
    if (offset === 0) {
      this.#slots[index] = undefined;
      this.#head += 1;
      this.#compact();
    } else {
      this.#slots.splice(index, 1);
    }
    return offset;
  }

  /** The entries from 0-based `index` to the back. */
  from(index: number): T[] {
    const entries: T[] = [];
    for (let at = this.#head + index; at < this.#slots.length; at += 1) entries.push(this.#slots[at]!.entry);
    return entries;
  }

  /** The ids in line, front first. */
  ids(): string[] {
    return this.from(0).map((entry) => entry.id);
  }

  /** Empties the line, clearing every timer; returns the entries it held, front first. */
  clear(): T[] {
    const entries = this.from(0);
    this.#deadlines.clear();
    this.#slots = [];
    this.#head = 0;
    this.#byId.clear();
    this.#startable = 0;
    return entries;
  }

  #append(entry: T, run: RunFunction | undefined): void {
    if (this.#byId.has(entry.id)) throw new Error(`WaitingLine: ${entry.id} is already in line`);
    const slot: Slot<T> = { entry, seq: this.#nextSeq, run };
    this.#nextSeq += 1;
    this.#deadlines.add(slot, entry.deadline);
    this.#slots.push(slot);
    this.#byId.set(entry.id, slot);
    if (run !== undefined) this.#startable += 1;
  }

  /** The array index of a slot in line: a binary search on `seq` (the head first, the usual case). */
  #indexOf(slot: Slot<T>): number {
    if (this.#slots[this.#head] === slot) return this.#head;
    let low = this.#head + 1;
    let high = this.#slots.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const seq = this.#slots[middle]!.seq;
      if (seq === slot.seq) return middle;
      if (seq < slot.seq) low = middle + 1;
      else high = middle - 1;
    }
    throw new Error(`WaitingLine: ${slot.entry.id} is indexed but not in line`);
  }

  #compact(): void {
    if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#slots.length) {
      this.#slots = this.#slots.slice(this.#head);
      this.#head = 0;
    }
  }
}

/** A class whose `new` yields `instance` itself (a constructor that returns an object yields that object). */
function constructorOf<Instance extends object>(instance: Instance): new () => Instance {
  return class {
    constructor() {
      return instance;
    }
  } as unknown as new () => Instance;
}
