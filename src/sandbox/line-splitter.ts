/**
 * Splits a byte stream into lines as it arrives, with a bound on line length so that output
 * with no newline cannot grow memory without limit. Handles UTF-8 split across chunks and
 * `\r\n` endings.
 *
 * A consumer that keeps only the last lines of a long output (a run's log past its budget) can
 * say so through {@link LineSkip}: the lines of a chunk before its last few are then counted in
 * one pass over the bytes and handed over as a count, instead of each becoming a string and a
 * call. A step printing 300 MB of short lines cost bosun's event loop some 10 s of CPU, almost
 * all of it per line, for lines that were only counted and dropped.
 */
import { isUtf8 } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';

/** Longer lines are cut into pieces of this many characters. */
export const MAX_LINE_CHARS = 16 * 1024;

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** How a consumer that keeps only the last lines lets whole runs of lines be skipped (see {@link LineSplitter}). */
export interface LineSkip {
  /**
   * Undefined while every line is wanted; otherwise how many of a chunk's last complete lines
   * must still be handed over one by one, those before them being counted only.
   */
  keepLast(): number | undefined;
  /**
   * Lines not handed over, in order where they would have been: how many, and their bytes as
   * the lines would have had them (`Buffer.byteLength(line) + 1` summed, a `\r` before the
   * newline not counted).
   */
  skipped(lines: number, bytes: number): void;
}

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineChars = MAX_LINE_CHARS,
    private readonly skip?: LineSkip,
  ) {}

  write(chunk: Buffer | string): void {
    const keep = typeof chunk === 'string' ? undefined : this.skip?.keepLast();
    if (keep === undefined || !this.writeSkipping(chunk as Buffer, keep)) this.split(chunk);
  }

  /** Emits what is left as a last line (output that did not end with a newline). */
  end(): void {
    this.pending += this.decoder.end();
    if (this.pending.length > 0) this.emit(this.pending);
    this.pending = '';
  }

  private split(chunk: Buffer | string): void {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    let newline: number;
    while ((newline = this.pending.indexOf('\n')) !== -1) {
      this.emit(this.pending.slice(0, newline));
      this.pending = this.pending.slice(newline + 1);
    }
    while (this.pending.length > this.maxLineChars) {
      this.onLine(this.pending.slice(0, this.maxLineChars));
      this.pending = this.pending.slice(this.maxLineChars);
    }
  }

  /**
   * The chunk as three parts: through its first newline (which ends the line pending from
   * earlier chunks) split as usual; the complete lines after it, but for the last `keep`,
   * counted; the rest split as usual. False, with nothing done, when there is nothing to skip,
   * or when the skipped lines would not be exactly what splitting gives: a line to cut (longer
   * than `maxLineChars`) or bytes that are not valid UTF-8 (each invalid byte becomes a U+FFFD).
   */
  private writeSkipping(chunk: Buffer, keep: number): boolean {
    const first = chunk.indexOf(NEWLINE);
    if (first === -1) return false;
    // The newline that ends the last skipped line: the (keep + 1)-th from the end.
    let last = chunk.lastIndexOf(NEWLINE);
    for (let kept = 0; kept < keep && last > first; kept += 1) last = chunk.lastIndexOf(NEWLINE, last - 1);
    if (last <= first) return false;
    const skipped = chunk.subarray(first + 1, last + 1);
    let lines = 0;
    let carriageReturns = 0;
    let lineStart = 0;
    for (let index = 0; index < skipped.length; index += 1) {
      if (skipped[index] !== NEWLINE) continue;
      if (index - lineStart > this.maxLineChars) return false;
      if (index > lineStart && skipped[index - 1] === CARRIAGE_RETURN) carriageReturns += 1;
      lines += 1;
      lineStart = index + 1;
    }
    if (!isUtf8(skipped)) return false;
    this.split(chunk.subarray(0, first + 1));
    this.skip!.skipped(lines, skipped.length - carriageReturns);
    this.split(chunk.subarray(last + 1));
    return true;
  }

  private emit(line: string): void {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    for (let start = 0; start < text.length || start === 0; start += this.maxLineChars) {
      this.onLine(text.slice(start, start + this.maxLineChars));
      if (text.length === 0) break;
    }
  }
}
