/**
 * Buffers writes for a moment and hands them to `write` in batches: at once when `batchSize`
 * items wait, otherwise after `delayMs` (0: on the next turn of the event loop). One transaction per batch instead of
 * one per item keeps a chatty run from blocking the event loop. Readers call {@link flush} first
 * so they always see every item.
 */
export class WriteBehind<T> {
  private pending: T[] = [];
  private scheduled = false;

  constructor(
    private readonly batchSize: number,
    private readonly write: (batch: readonly T[]) => void,
    /** False once the destination is closed: a scheduled flush then does nothing. */
    private readonly isOpen: () => boolean = () => true,
    private readonly delayMs = 0,
  ) {}

  push(item: T): void {
    this.pending.push(item);
    if (this.pending.length >= this.batchSize) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      const flushIfOpen = () => {
        if (this.isOpen()) this.flush();
      };
      if (this.delayMs > 0) setTimeout(flushIfOpen, this.delayMs).unref();
      else setImmediate(flushIfOpen);
    }
  }

  /** Writes what waits, now. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.write(batch);
  }
}
