/**
 * How much of a run's output is recorded. A run may print gigabytes; bosun keeps the first
 * `limitBytes` of it, and of what comes after, only the last `tailLines` lines of each step —
 * the head shows how it started, the tail how it ended (usually the error). What was dropped is
 * counted so the log can say so.
 *
 * The budget counts lines as well as bytes: each line is charged its bytes and newline, but at
 * least `lineCostBytes` (64 by default, about what a stored line costs besides its text), so
 * that short lines cannot make a budget of bytes into millions of lines. Before, a step printing
 * 50 MB of empty lines stored 33.5 M log rows and took 88 s of bosun's CPU; now the default
 * 32 MiB holds at most 524,288 lines, however short. Past the budget, a line costs a counter
 * and a slot in a fixed ring of `tailLines`, and a run of lines followed by at least `tailLines`
 * more costs one call to {@link OutputBudget.skip}.
 */
export interface DroppedOutput<T> {
  readonly droppedLines: number;
  /** The bytes of the dropped lines as printed (newlines included), not what they were charged. */
  readonly droppedBytes: number;
  /** The last lines past the budget, oldest first: recorded after the drop notice. */
  readonly tail: readonly T[];
}

/** The least a line is charged against the budget (see {@link OutputBudget}). */
export const LINE_COST_BYTES = 64;

export class OutputBudget<T> {
  private usedBytes = 0;
  /** Once a line did not fit, none is recorded at once any more: order in the log stays true. */
  private exhausted = false;
  private droppedLines = 0;
  private droppedBytes = 0;
  /** The held tail: a ring of `tailLines` slots from `tailStart`, `tailCount` of them used. */
  private readonly tailItems: (T | undefined)[];
  private readonly tailBytes: number[];
  private tailStart = 0;
  private tailCount = 0;

  /**
   * @param limitBytes what the head may be charged.
   * @param tailLines lines held past the budget, per drain (per step).
   * @param lineCostBytes the least a line is charged.
   */
  constructor(
    readonly limitBytes: number,
    readonly tailLines = 100,
    readonly lineCostBytes = LINE_COST_BYTES,
  ) {
    this.tailItems = new Array<T | undefined>(tailLines);
    this.tailBytes = new Array<number>(tailLines).fill(0);
  }

  /**
   * True when this line fits the budget and should be recorded now; otherwise it is held or dropped.
   * @param bytes the line's size as printed, its newline included; it is charged at least {@link lineCostBytes}.
   */
  admit(item: T, bytes: number): boolean {
    const charge = Math.max(bytes, this.lineCostBytes);
    if (!this.exhausted && this.usedBytes + charge <= this.limitBytes) {
      this.usedBytes += charge;
      return true;
    }
    this.exhausted = true;
    if (this.tailLines === 0) {
      this.droppedLines += 1;
      this.droppedBytes += bytes;
      return false;
    }
    if (this.tailCount === this.tailLines) {
      // The ring is full: the oldest held line is dropped, and its slot takes this one.
      this.droppedLines += 1;
      this.droppedBytes += this.tailBytes[this.tailStart]!;
      this.tailItems[this.tailStart] = item;
      this.tailBytes[this.tailStart] = bytes;
      this.tailStart = (this.tailStart + 1) % this.tailLines;
    } else {
      const slot = (this.tailStart + this.tailCount) % this.tailLines;
      this.tailItems[slot] = item;
      this.tailBytes[slot] = bytes;
      this.tailCount += 1;
    }
    return false;
  }

  /**
   * True once a line did not fit: from then on no line is recorded at once, and only the last
   * `tailLines` of any run of lines can end up in the tail.
   */
  get tailOnly(): boolean {
    return this.exhausted;
  }

  /**
   * Counts lines as dropped without offering them one by one: for lines that {@link admit}
   * would only have passed through the tail, since at least `tailLines` more follow them (a
   * splitter that skips all but a chunk's last lines once {@link tailOnly}).
   * @param bytes their size as printed, newlines included.
   */
  skip(lines: number, bytes: number): void {
    if (!this.exhausted) throw new Error('OutputBudget.skip before the budget is spent');
    this.droppedLines += lines;
    this.droppedBytes += bytes;
  }

  /** True when lines have been held back since the last {@link drain}. */
  get holding(): boolean {
    return this.tailCount > 0 || this.droppedLines > 0;
  }

  /** What was dropped since the last drain, and the held tail to record now. */
  drain(): DroppedOutput<T> {
    const tail: T[] = [];
    for (let index = 0; index < this.tailCount; index += 1) {
      const slot = (this.tailStart + index) % this.tailLines;
      tail.push(this.tailItems[slot] as T);
      this.tailItems[slot] = undefined;
    }
    const result = { droppedLines: this.droppedLines, droppedBytes: this.droppedBytes, tail };
    this.droppedLines = 0;
    this.droppedBytes = 0;
    this.tailStart = 0;
    this.tailCount = 0;
    return result;
  }
}
