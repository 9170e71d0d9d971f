import { describe, expect, it } from 'vitest';
import { LINE_COST_BYTES, OutputBudget } from '../../src/runs/output-budget.js';

describe('OutputBudget', () => {
  it('admits lines while they fit, then holds the last ones and counts the rest', () => {
    const budget = new OutputBudget<string>(10, 2, 1);
    expect(['aaaa', 'bbbb'].map((line) => budget.admit(line, 5))).toEqual([true, true]);
    expect(budget.holding).toBe(false);
    expect(['c', 'd', 'e', 'f'].map((line) => budget.admit(line, 3))).toEqual([false, false, false, false]);
    expect(budget.holding).toBe(true);
    expect(budget.drain()).toEqual({ droppedLines: 2, droppedBytes: 6, tail: ['e', 'f'] });
    expect(budget.drain()).toEqual({ droppedLines: 0, droppedBytes: 0, tail: [] });
    expect(budget.holding).toBe(false);
    // Spent once, spent for good: a short line that would still fit is held, so the log keeps its order.
    expect(budget.admit('g', 1)).toBe(false);
    expect(budget.drain().tail).toEqual(['g']);
  });

  it('charges a line at least 64 bytes: a budget of bytes is a budget of lines too', () => {
    const budget = new OutputBudget<number>(64 * 1024);
    expect(budget.lineCostBytes).toBe(LINE_COST_BYTES);
    let admitted = 0;
    // A million empty lines (1 byte each with the newline), as `yes ''` prints them.
    for (let line = 1; line <= 1_000_000; line += 1) if (budget.admit(line, 1)) admitted += 1;
    expect(admitted).toBe(1_024);
    const { droppedLines, droppedBytes, tail } = budget.drain();
    expect(tail).toEqual(Array.from({ length: 100 }, (_, index) => 999_901 + index));
    expect(droppedLines).toBe(1_000_000 - 1_024 - 100);
    // What was printed, not what it was charged.
    expect(droppedBytes).toBe(droppedLines);
    // Long lines are charged their size.
    const long = new OutputBudget<string>(1_000);
    expect([long.admit('a', 600), long.admit('b', 400), long.admit('c', 1)]).toEqual([true, true, false]);
  });

  it('keeps the tail in order over many steps, and holds nothing with a tail of 0', () => {
    const budget = new OutputBudget<number>(0, 3);
    for (let step = 0; step < 3; step += 1) {
      for (let line = 1; line <= 10 + step; line += 1) budget.admit(line, 2);
      expect(budget.drain()).toEqual({ droppedLines: 7 + step, droppedBytes: 2 * (7 + step), tail: [8 + step, 9 + step, 10 + step] });
    }
    const none = new OutputBudget<number>(0, 0);
    expect(none.admit(1, 5)).toBe(false);
    expect(none.holding).toBe(true);
    expect(none.drain()).toEqual({ droppedLines: 1, droppedBytes: 5, tail: [] });
  });

  it('counts lines skipped past the budget as dropped, with the held tail unchanged', () => {
    const budget = new OutputBudget<string>(10, 2, 1);
    expect(() => budget.skip(5, 10)).toThrow();
    expect(budget.tailOnly).toBe(false);
    budget.admit('aaaaaaaaaa', 10);
    expect(budget.admit('b', 2)).toBe(false);
    expect(budget.tailOnly).toBe(true);
    // As a splitter skipping all but a chunk's last 2 lines would: 'b', 1,000 lines counted, then 'y' and 'z'.
    budget.skip(1_000, 6_000);
    budget.admit('y', 2);
    budget.admit('z', 2);
    expect(budget.drain()).toEqual({ droppedLines: 1_001, droppedBytes: 6_002, tail: ['y', 'z'] });
  });
});
