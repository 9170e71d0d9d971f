/**
 * A command's output handed back whole up to a limit, else its tail: what is held, what is
 * said about it, and how it is decoded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OutputTail } from '../../src/runs/output-tail.js';

describe('OutputTail', () => {
  it('keeps everything up to the limit', () => {
    const tail = new OutputTail(10);
    tail.push(Buffer.from('hello '));
    tail.push(Buffer.from('you!'));
    expect(tail.text()).toBe('hello you!');
    expect(tail.truncated).toBe(false);
    expect(tail.totalBytes).toBe(10);
  });

  it('keeps the last bytes past the limit, whatever the chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 40 }), fc.integer({ min: 1, max: 64 }), (chunks, limit) => {
        const tail = new OutputTail(limit);
        for (const chunk of chunks) tail.push(chunk);
        const all = Buffer.concat(chunks);
        expect(tail.bytes().equals(all.subarray(Math.max(0, all.length - limit)))).toBe(true);
        expect(tail.truncated).toBe(all.length > limit);
        expect(tail.totalBytes).toBe(all.length);
      }),
    );
  });

  it('takes a chunk larger than the limit whole, keeping its end', () => {
    const tail = new OutputTail(4);
    tail.push(Buffer.from('ab'));
    tail.push(Buffer.from('0123456789'));
    expect(tail.text()).toBe('6789');
  });

  it('replaces invalid UTF-8, and drops a character cut at the head', () => {
    const invalid = new OutputTail(100);
    invalid.push(Buffer.from([0x61, 0xff, 0x62]));
    expect(invalid.text()).toBe('a\uFFFDb');
    const cut = new OutputTail(4);
    cut.push(Buffer.from('xé€')); // 1 + 2 + 3 bytes: the head cuts é after its first byte
    expect(cut.text()).toBe('€');
  });

  it('holds a bounded number of bytes however much arrives', () => {
    const tail = new OutputTail(1024);
    const chunk = Buffer.alloc(7, 0x61);
    for (let i = 0; i < 100_000; i += 1) tail.push(chunk);
    expect(tail.bytes()).toHaveLength(1024);
    expect(tail.totalBytes).toBe(700_000);
  });
});
