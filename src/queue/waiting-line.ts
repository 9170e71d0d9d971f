/**
 * The order of waiting runs: append at the back, remove anywhere, positions by index. Runs leave
 * mostly from the front, so that is O(1) (a moving head, compacted now and then) rather than an
 * `Array.shift()`, which V8 can only do in place for small arrays and otherwise copies the line.
 */
export class WaitingLine {
  private ids: (string | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.ids.length - this.head;
  }

  push(id: string): void {
    this.ids.push(id);
  }

  /** 1 = front; 0 = not in line. */
  position(id: string): number {
    if (this.ids[this.head] === id) return 1;
    const index = this.ids.indexOf(id, this.head);
    return index === -1 ? 0 : index - this.head + 1;
  }

  /** Removes `id`; returns the 0-based index it had (the runs from there on moved up), or -1. */
  remove(id: string): number {
    if (this.ids[this.head] === id) {
      this.ids[this.head] = undefined;
      this.head += 1;
      this.compact();
      return 0;
    }
    const index = this.ids.indexOf(id, this.head);
    if (index === -1) return -1;
    this.ids.splice(index, 1);
    return index - this.head;
  }

  /** The ids from 0-based `index` to the back. */
  from(index: number): string[] {
    return this.ids.slice(this.head + index) as string[];
  }

  toArray(): string[] {
    return this.from(0);
  }

  /** Empties the line, returning what it held, front first. */
  clear(): string[] {
    const all = this.toArray();
    this.ids = [];
    this.head = 0;
    return all;
  }

  private compact(): void {
    if (this.head >= 1024 && this.head * 2 >= this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.head = 0;
    }
  }
}
