/**
 * The output of one command as an API caller gets it back: whole up to a limit, else its last
 * `limitBytes` bytes. Only the tail is ever held (a command may print gigabytes): chunks are kept
 * while they fit, and once more has arrived than the limit, the oldest bytes are dropped as new
 * ones come. Decoded as UTF-8 at the end, invalid sequences replaced by U+FFFD.
 */

const EMPTY = Buffer.alloc(0);

export class OutputTail {
  private chunks: Buffer[] = [];
  /** Chunks before this index were dropped (compacted now and then: shifting each would be quadratic). */
  private head = 0;
  private keptBytes = 0;
  /** Every byte that arrived, kept or not. */
  private seenBytes = 0;

  /** @param limitBytes the most bytes held and returned. */
  constructor(readonly limitBytes: number) {}

  /** Bytes that arrived in all. */
  get totalBytes(): number {
    return this.seenBytes;
  }

  /** True once more arrived than is kept. */
  get truncated(): boolean {
    return this.seenBytes > this.keptBytes;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.seenBytes += chunk.length;
    if (chunk.length >= this.limitBytes) {
      // Copied: a view would keep the whole (possibly huge) chunk alive.
      this.chunks = [Buffer.from(chunk.subarray(chunk.length - this.limitBytes))];
      this.head = 0;
      this.keptBytes = this.limitBytes;
      return;
    }
    this.chunks.push(Buffer.from(chunk));
    this.keptBytes += chunk.length;
    while (this.keptBytes > this.limitBytes) {
      const first = this.chunks[this.head]!;
      const excess = this.keptBytes - this.limitBytes;
      if (first.length <= excess) {
        this.chunks[this.head] = EMPTY;
        this.head += 1;
        this.keptBytes -= first.length;
      } else {
        // A view: its buffer is at most limitBytes (larger chunks are copied down on entry).
        this.chunks[this.head] = first.subarray(excess);
        this.keptBytes -= excess;
      }
    }
    if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }

  /** The bytes held, oldest first. */
  bytes(): Buffer {
    return Buffer.concat(this.head === 0 ? this.chunks : this.chunks.slice(this.head), this.keptBytes);
  }

  /**
   * The bytes held as text. When the head was cut, the continuation bytes of a character whose
   * start was dropped are skipped rather than shown as replacement characters.
   */
  text(): string {
    let bytes = this.bytes();
    if (this.truncated) {
      let skip = 0;
      while (skip < 3 && skip < bytes.length && (bytes[skip]! & 0xc0) === 0x80) skip += 1;
      bytes = bytes.subarray(skip);
    }
    return new TextDecoder('utf-8').decode(bytes);
  }
}
