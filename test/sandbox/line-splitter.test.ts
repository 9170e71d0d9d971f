import { describe, expect, it } from 'vitest';
import { LineSplitter, type LineSkip } from '../../src/sandbox/line-splitter.js';

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

  describe('skipping all but the last lines of a chunk (LineSkip)', () => {
    type Event = { line: string } | { skipped: number; bytes: number };

    /** What a splitter hands over with a skip that keeps the last `keep` lines of each chunk from chunk `from` on. */
    function skipping(chunks: Array<string | Buffer>, keep: number, from = 0, max?: number): Event[] {
      const events: Event[] = [];
      let written = 0;
      const skip: LineSkip = {
        keepLast: () => (written > from ? keep : undefined),
        skipped: (lines, bytes) => events.push({ skipped: lines, bytes }),
      };
      const splitter = new LineSplitter((line) => events.push({ line }), max, skip);
      for (const chunk of chunks) {
        written += 1;
        splitter.write(chunk);
      }
      splitter.end();
      return events;
    }

    /** Checks `events` against splitting without skipping: every skipped run stands for exactly the lines it replaces. */
    function expectSameAsSplitting(chunks: Array<string | Buffer>, events: Event[], max?: number): number {
      const lines = split(chunks, max);
      let index = 0;
      let skippedLines = 0;
      for (const event of events) {
        if ('line' in event) {
          expect(event.line).toBe(lines[index]);
          index += 1;
          continue;
        }
        const replaced = lines.slice(index, index + event.skipped);
        expect(replaced).toHaveLength(event.skipped);
        expect(event.bytes).toBe(replaced.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0));
        index += event.skipped;
        skippedLines += event.skipped;
      }
      expect(index).toBe(lines.length);
      return skippedLines;
    }

    it('counts the lines before the last `keep` of a chunk instead of handing them over, and hands over the rest as splitting does', () => {
      const chunks = [
        Buffer.from('partial '),
        Buffer.from('start\n' + 'bosun\n'.repeat(1_000) + 'x\r\n\n\r\ny\r\nend of chunk'),
        Buffer.from(' and more\nlast'),
      ];
      const events = skipping(chunks, 3);
      expect(expectSameAsSplitting(chunks, events)).toBe(1_000 + 4 - 3);
      // The line pending from the chunk before, the last 3 lines, and what follows are handed over.
      expect(events.filter((event) => 'line' in event)).toEqual([
        { line: 'partial start' },
        { line: '' },
        { line: '' },
        { line: 'y' },
        { line: 'end of chunk and more' },
        { line: 'last' },
      ]);
    });

    it('keeps nothing but counts with keep 0, and hands over every line while keepLast is undefined', () => {
      const chunk = Buffer.from('a\nb\nc\nd\n');
      expect(skipping([chunk, chunk], 0, 1)).toEqual([
        { line: 'a' },
        { line: 'b' },
        { line: 'c' },
        { line: 'd' },
        { line: 'a' },
        { skipped: 3, bytes: 6 },
      ]);
    });

    it('splits as usual where skipping would not give the same lines: UTF-8 (valid or not) and lines to cut', () => {
      const utf8 = Buffer.from('première\n' + 'ligne é\n'.repeat(50));
      const invalid = Buffer.concat([Buffer.from('a\n'), Buffer.from([0xff, 0xfe, 0x0a]), Buffer.from('b\n'.repeat(50))]);
      const long = Buffer.from('a\n' + 'x'.repeat(100) + '\n' + 'b\n'.repeat(50));
      const multibyteSplit = Buffer.from('héllo\n'.repeat(20));
      const cases: Array<[Array<string | Buffer>, number | undefined]> = [
        [[utf8], undefined],
        [[invalid], undefined],
        [[long], 16],
        [[multibyteSplit.subarray(0, 50), multibyteSplit.subarray(50)], undefined],
        [['text chunks\nare\nsplit\nas usual\n'], undefined],
      ];
      for (const [chunks, max] of cases) expectSameAsSplitting(chunks, skipping(chunks, 2, 0, max), max);
      // Invalid UTF-8 and a line to cut are split, line by line.
      expect(skipping([invalid], 2).some((event) => 'skipped' in event)).toBe(false);
      expect(skipping([long], 2, 0, 16).some((event) => 'skipped' in event)).toBe(false);
      expect(skipping([utf8], 2).some((event) => 'skipped' in event)).toBe(true);
    });
  });
});
