import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/sandbox/line-splitter.js';

function split(chunks: Array<string | Buffer>, max?: number): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line), max);
  for (const chunk of chunks) splitter.write(chunk);
  splitter.end();
  return lines;
}

describe('LineSplitter', () => {
  it('splits across chunks, keeps empty lines, strips \\r and emits an unterminated tail', () => {
    expect(split(['a\nb', 'c\r\n\nd'])).toEqual(['a', 'bc', '', 'd']);
  });

  it('decodes UTF-8 split across chunks', () => {
    const bytes = Buffer.from('héllo\n');
    expect(split([bytes.subarray(0, 2), bytes.subarray(2)])).toEqual(['héllo']);
  });

  it('cuts a line with no newline into bounded pieces', () => {
    expect(split(['abcdefgh', 'ij\n'], 4)).toEqual(['abcd', 'efgh', 'ij']);
    expect(split(['abcdefghij\n'], 4)).toEqual(['abcd', 'efgh', 'ij']);
  });
});
