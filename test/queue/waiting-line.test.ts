import { describe, expect, it } from 'vitest';
import { WaitingLine } from '../../src/queue/waiting-line.js';

describe('WaitingLine', () => {
  it('keeps order, positions and removals from the front, the middle and the back', () => {
    const line = new WaitingLine();
    for (const id of ['a', 'b', 'c', 'd']) line.push(id);
    expect(line.position('c')).toBe(3);
    expect(line.remove('a')).toBe(0);
    expect(line.position('c')).toBe(2);
    expect(line.remove('c')).toBe(1);
    expect(line.from(1)).toEqual(['d']);
    expect(line.remove('zz')).toBe(-1);
    expect(line.position('zz')).toBe(0);
    expect(line.toArray()).toEqual(['b', 'd']);
    expect(line.length).toBe(2);
    expect(line.clear()).toEqual(['b', 'd']);
    expect(line.length).toBe(0);
  });

  it('stays correct across compactions of a long line', () => {
    const line = new WaitingLine();
    for (let i = 0; i < 5000; i += 1) line.push(`r${i}`);
    for (let i = 0; i < 3000; i += 1) expect(line.remove(`r${i}`)).toBe(0);
    expect(line.length).toBe(2000);
    expect(line.position('r3000')).toBe(1);
    expect(line.position('r4999')).toBe(2000);
    expect(line.remove('r4000')).toBe(1000);
    expect(line.from(999)).toEqual(['r3999', 'r4001'].concat(Array.from({ length: 998 }, (_, i) => `r${4002 + i}`)));
  });
});
