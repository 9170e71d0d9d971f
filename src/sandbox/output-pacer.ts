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
 *
 * A handler that throws (a store that cannot number a line) must not leave the stream paused or
 * the drain unresolved: the pacer then hands on nothing more, reads the rest of the stream to
 * nowhere, and reports the error once through `onError`, so that the command fails instead of
 * hanging (and the error is not thrown into the event loop from a later turn).
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
  /** A handler threw: nothing more is handed on. */
  private failed = false;
  private firstError: unknown;

  constructor(
    private readonly stream: Readable,
    private readonly sliceMs = OUTPUT_SLICE_MS,
    private readonly pieceBytes = OUTPUT_PIECE_BYTES,
    /** Told once, of the first error a handler threw. */
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  /** Hands `chunk` to `handle` in pieces, in order: some now, the rest on later turns. */
  write(chunk: Buffer, handle: (piece: Buffer) => void): void {
    if (this.failed) return;
    if (chunk.length <= this.pieceBytes) this.waiting.push(() => handle(chunk));
    else
      for (let offset = 0; offset < chunk.length; offset += this.pieceBytes) {
        const piece = chunk.subarray(offset, offset + this.pieceBytes);
        this.waiting.push(() => handle(piece));
      }
    if (!this.scheduled) this.handleSome();
  }

  /** The first error a handler threw, if one did (also when it was thrown during {@link flush}). */
  get error(): unknown {
    return this.firstError;
  }

  /** Resolves once no piece waits (at once when none does). */
  drained(): Promise<void> {
    if (this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.onDrained.push(resolve));
  }

  /** Hands on every waiting piece now (for an end that cannot wait: an error, an abort). */
  flush(): void {
    while (this.waiting.length > 0) this.handleNext();
    this.settle();
  }

  /** Hands on the next waiting piece; a throw fails the pacer (see the class comment). */
  private handleNext(): void {
    try {
      this.waiting.shift()!();
    } catch (error) {
      this.failed = true;
      this.firstError = error;
      this.waiting.length = 0;
      this.onError(error);
    }
  }

  /** Pieces while they take under `sliceMs`; then pauses and schedules the next turn, or resumes when none waits. */
  private handleSome(): void {
    const startedAt = performance.now();
    do this.handleNext();
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
