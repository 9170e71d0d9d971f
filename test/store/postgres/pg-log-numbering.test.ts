/**
 * LogNumbering: a run's lines are numbered after the highest seq this node gave or read, never
 * backwards, and not at all for a run this node knows nothing of.
 */
import { describe, expect, it } from 'vitest';
import { LogNumbering } from '../../../src/store/postgres/pg-log-numbering.js';

describe('LogNumbering', () => {
  it('numbers a run it recorded from 1, and goes on after it finished', () => {
    const numbering = new LogNumbering();
    numbering.started('r', false);
    expect([numbering.next('r'), numbering.next('r')]).toEqual([1, 2]);
    numbering.finished('r');
    expect(numbering.isOpen('r')).toBe(false);
    expect(numbering.next('r')).toBe(3);
    numbering.started('refused', true);
    expect(numbering.next('refused')).toBe(1);
  });

  it('goes on after the highest seq read, and never back below what it gave out itself', () => {
    const numbering = new LogNumbering();
    numbering.stored('taken-over', 41);
    expect(numbering.next('taken-over')).toBe(42);
    // A read that raced with this node's unwritten lines says less: ignored.
    numbering.stored('taken-over', 40);
    expect(numbering.next('taken-over')).toBe(43);
    // Another node wrote more meanwhile (this one was only reading): it goes on after those.
    numbering.stored('taken-over', 50);
    expect(numbering.next('taken-over')).toBe(51);
  });

  it('refuses to number a run it neither recorded nor read', () => {
    expect(() => new LogNumbering().next('unknown')).toThrow(
      expect.objectContaining({ code: 'INVALID_STATE', message: expect.stringContaining('run unknown: its log') as unknown }),
    );
  });
});
