import { describe, expect, it } from 'vitest';
import { LogBuffer } from '../../src/runs/log-buffer.js';

describe('LogBuffer', () => {
  it('numbers lines from 1 and reads after a sequence number', () => {
    const buffer = new LogBuffer('a', 10);
    for (let i = 1; i <= 5; i += 1) buffer.append('STDOUT', 1, `line ${i}`);
    expect(buffer.read().map((l) => l.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(buffer.read(3).map((l) => l.line)).toEqual(['line 4', 'line 5']);
    expect(buffer.read(5)).toEqual([]);
    expect(buffer.read(0, 2).map((l) => l.seq)).toEqual([4, 5]);
    expect(buffer.lastSeq).toBe(5);
  });

  it('drops the oldest lines past its capacity and keeps numbering', () => {
    const buffer = new LogBuffer('a', 3);
    for (let i = 1; i <= 7; i += 1) buffer.append('STDERR', null, String(i));
    expect(buffer.read().map((l) => l.seq)).toEqual([5, 6, 7]);
    expect(buffer.read(2).map((l) => l.seq)).toEqual([5, 6, 7]);
    expect(buffer.read(5).map((l) => l.seq)).toEqual([6, 7]);
    expect(buffer.read(5, 1).map((l) => l.seq)).toEqual([7]);
    expect(buffer.lastSeq).toBe(7);
  });
});
