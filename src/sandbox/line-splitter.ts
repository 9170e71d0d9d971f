/**
 * Splits a byte stream into lines as it arrives, with a bound on line length so that output
 * with no newline cannot grow memory without limit. Handles UTF-8 split across chunks and
 * `\r\n` endings.
 */
import { StringDecoder } from 'node:string_decoder';

/** Longer lines are cut into pieces of this many characters. */
export const MAX_LINE_CHARS = 16 * 1024;

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineChars = MAX_LINE_CHARS,
  ) {}

  write(chunk: Buffer | string): void {
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

  /** Emits what is left as a last line (output that did not end with a newline). */
  end(): void {
    this.pending += this.decoder.end();
    if (this.pending.length > 0) this.emit(this.pending);
    this.pending = '';
  }

  private emit(line: string): void {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    for (let start = 0; start < text.length || start === 0; start += this.maxLineChars) {
      this.onLine(text.slice(start, start + this.maxLineChars));
      if (text.length === 0) break;
    }
  }
}
