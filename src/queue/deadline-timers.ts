/**
 * Timers for many deadlines, one per distinct deadline millisecond. Runs that enter the line in the
 * same millisecond have the same deadline and share one timer, so a burst of a thousand runs costs
 * one `setTimeout`, not a thousand (a Node timer weighs more than all the rest of a waiting run's
 * bookkeeping, and a long line keeps them all alive). Each item still comes due at its own deadline,
 * to the millisecond, whatever the order of the deadlines. Timers are unref'd: a deadline alone does
 * not keep the process alive.
 */

interface Group<Item> {
  readonly deadline: number;
  readonly items: Set<Item>;
  timer: NodeJS.Timeout | undefined;
}

export interface DeadlineTimersOptions<Item> {
  /** The clock in epoch milliseconds. */
  readonly now: () => number;
  /** Called once per item whose deadline has come, in the order the items were added. */
  readonly onDue: (item: Item) => void;
}

export class DeadlineTimers<Item> {
  readonly #groups = new Map<number, Group<Item>>();
  readonly #now: () => number;
  /** One function for every timer, the group passed as the timer's argument. */
  readonly #fire: (group: Group<Item>) => void;

  constructor(options: DeadlineTimersOptions<Item>) {
    this.#now = options.now;
    const { onDue } = options;
    this.#fire = (group) => {
      this.#groups.delete(group.deadline);
      // Deleting an item of a group that has fired finds no group: the set is not changed while it is read.
      for (const item of group.items) onDue(item);
    };
  }

  /** Timers set now. */
  get timerCount(): number {
    return this.#groups.size;
  }

  /** `item` comes due at `deadline` (epoch ms; a past deadline comes due on the next timer tick). */
  add(item: Item, deadline: number): void {
    const group = this.#groups.get(deadline);
    if (group !== undefined) {
      group.items.add(item);
      return;
    }
    const created: Group<Item> = { deadline, items: new Set([item]), timer: undefined };
    created.timer = setTimeout(this.#fire, Math.max(0, deadline - this.#now()), created).unref();
    this.#groups.set(deadline, created);
  }

  /** `item` no longer comes due; the timer goes with the last item of its deadline. */
  delete(item: Item, deadline: number): void {
    const group = this.#groups.get(deadline);
    if (group === undefined || !group.items.delete(item) || group.items.size > 0) return;
    clearTimeout(group.timer);
    this.#groups.delete(deadline);
  }

  /** Clears every timer; nothing comes due any more. */
  clear(): void {
    for (const group of this.#groups.values()) clearTimeout(group.timer);
    this.#groups.clear();
  }
}
