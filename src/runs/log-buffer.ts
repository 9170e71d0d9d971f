/**
 * A run's log: a bounded ring buffer of lines with a sequence number each, so that a client can
 * ask for "everything after seq N" and resume after a reconnect. When full, the oldest lines go.
 */
import type { LogLine, LogStream } from './agent-run.js';

export class LogBuffer {
  private readonly lines: (LogLine | undefined)[];
  private nextSeq = 1;
  private start = 0;
  private count = 0;

  constructor(
    private readonly agentId: string,
    readonly capacity: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new TypeError(`Expected a capacity of at least 1, got ${capacity}`);
    this.lines = new Array<LogLine | undefined>(capacity);
  }

  /** Records a line and returns it with its sequence number. */
  append(stream: LogStream, step: number | null, line: string, at: Date = new Date()): LogLine {
    const entry: LogLine = Object.freeze({ agentId: this.agentId, seq: this.nextSeq++, stream, step, line, at });
    const slot = (this.start + this.count) % this.capacity;
    this.lines[slot] = entry;
    if (this.count < this.capacity) this.count += 1;
    else this.start = (this.start + 1) % this.capacity;
    return entry;
  }

  /** The sequence number of the last line, 0 when there is none. */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** The lines with seq greater than `afterSeq` that are still kept, then only the last `last` of them. */
  read(afterSeq = 0, last?: number): LogLine[] {
    const firstSeq = this.nextSeq - this.count;
    const skip = Math.max(0, Math.min(this.count, afterSeq - firstSeq + 1));
    let from = skip;
    if (last !== undefined) from = Math.max(from, this.count - last);
    const result: LogLine[] = [];
    for (let i = from; i < this.count; i += 1) result.push(this.lines[(this.start + i) % this.capacity]!);
    return result;
  }
}
