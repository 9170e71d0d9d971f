/**
 * Bounds how long bosun's event loop spends on a command's output at a time. libuv reads a busy
 * socket up to 32 times in one poll, and a step printing hundreds of megabytes keeps the engine's
 * socket full: recording every line of it (stored, and announced to subscribers, whose work runs
 * as microtasks after the output's callback) held the event loop for hundreds of milliseconds at
 * a time, and `/health` with it.
 *
 * Output is handed on in pieces of at most `pieceBytes`, in order, pieces following one another in
 * one callback only while they took under `sliceMs`; the rest wait, the stream paused, for the
 * next turn of the event loop (one `setImmediate` at a time, so that what the pieces set off as
 * microtasks, other sockets and timers run in between). The command meanwhile waits on a full
 * pipe, as it would for any slow reader.
 */
import type { Readable } from 'node:stream';

/** How long pieces may follow one another in one callback; the first always goes. */
export const OUTPUT_SLICE_MS = 2;
/** The most output handed on at once: some 1,400 short lines, a few milliseconds to record. */
export const OUTPUT_PIECE_BYTES = 8 * 1024;

export class OutputPacer {
  private readonly waiting: Array<() => void> = [];
  /** A turn is scheduled to hand on what waits. */
  private scheduled = false;
  private paused = false;
  private onDrained: Array<() => void> = [];

  constructor(
    private readonly stream: Readable,
    private readonly sliceMs = OUTPUT_SLICE_MS,
    private readonly pieceBytes = OUTPUT_PIECE_BYTES,
  ) {}

  /** Hands `chunk` to `handle` in pieces, in order: some now, the rest on later turns. */
  write(chunk: Buffer, handle: (piece: Buffer) => void): void {
    if (chunk.length <= this.pieceBytes) this.waiting.push(() => handle(chunk));
    else
      for (let offset = 0; offset < chunk.length; offset += this.pieceBytes) {
        const piece = chunk.subarray(offset, offset + this.pieceBytes);
        this.waiting.push(() => handle(piece));
      }
    if (!this.scheduled) this.handleSome();
  }

  /** Resolves once no piece waits (at once when none does). */
  drained(): Promise<void> {
    if (this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.onDrained.push(resolve));
  }

  /** Hands on every waiting piece now (for an end that cannot wait: an error, an abort). */
  flush(): void {
    while (this.waiting.length > 0) this.waiting.shift()!();
    this.settle();
  }

  /** Pieces while they take under `sliceMs`; then pauses and schedules the next turn, or resumes when none waits. */
  private handleSome(): void {
    const startedAt = performance.now();
    do this.waiting.shift()!();
    while (this.waiting.length > 0 && performance.now() - startedAt < this.sliceMs);
    if (this.waiting.length === 0) {
      this.settle();
      return;
    }
    if (!this.paused) {
      this.paused = true;
      this.stream.pause();
    }
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.waiting.length > 0) this.handleSome();
    });
  }

  /** Nothing waits: reading goes on, and whoever waited for the drain is told. */
  private settle(): void {
    if (this.paused) {
      this.paused = false;
      this.stream.resume();
    }
    const drained = this.onDrained;
    this.onDrained = [];
    for (const resolve of drained) resolve();
  }
}
