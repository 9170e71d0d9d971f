/**
 * How much of a run's output is recorded. A run may print gigabytes; bosun keeps the first
 * `limitBytes` of it, and of what comes after, only the last `tailLines` lines of each step —
 * the head shows how it started, the tail how it ended (usually the error). What was dropped is
 * counted so the log can say so.
 */
export interface HeldLine<T> {
  readonly item: T;
  readonly bytes: number;
}

export interface DroppedOutput<T> {
  readonly droppedLines: number;
  readonly droppedBytes: number;
  /** The last lines past the budget, oldest first: recorded after the drop notice. */
  readonly tail: readonly T[];
}

export class OutputBudget<T> {
  private usedBytes = 0;
  /** Once a line did not fit, none is recorded at once any more: order in the log stays true. */
  private exhausted = false;
  private droppedLines = 0;
  private droppedBytes = 0;
  private tail: HeldLine<T>[] = [];

  constructor(
    readonly limitBytes: number,
    readonly tailLines = 100,
  ) {}

  /** True when this line fits the budget and should be recorded now; otherwise it is held or dropped. */
  admit(item: T, bytes: number): boolean {
    if (!this.exhausted && this.usedBytes + bytes <= this.limitBytes) {
      this.usedBytes += bytes;
      return true;
    }
    this.exhausted = true;
    this.tail.push({ item, bytes });
    if (this.tail.length > this.tailLines) {
      const dropped = this.tail.shift()!;
      this.droppedLines += 1;
      this.droppedBytes += dropped.bytes;
    }
    return false;
  }

  /** True when lines have been held back since the last {@link drain}. */
  get holding(): boolean {
    return this.tail.length > 0;
  }

  /** What was dropped since the last drain, and the held tail to record now. */
  drain(): DroppedOutput<T> {
    const result = { droppedLines: this.droppedLines, droppedBytes: this.droppedBytes, tail: this.tail.map((held) => held.item) };
    this.droppedLines = 0;
    this.droppedBytes = 0;
    this.tail = [];
    return result;
  }
}
