import { describe, expect, it } from 'vitest';
import { OutputBudget } from '../../src/runs/output-budget.js';

describe('OutputBudget', () => {
  it('admits lines while they fit, then holds the last ones and counts the rest', () => {
    const budget = new OutputBudget<string>(10, 2);
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
});
