/**
 * Splits the engine's multiplexed exec stream (no TTY: 8-byte frame headers, stream 1 = stdout,
 * 2 = stderr) into the command's raw standard output, as a Node stream with backpressure, and its
 * standard error, handed to a callback. dockerode's `demuxStream` writes without ever waiting, so
 * a slow reader of a large output (a 100 MB tar) would buffer all of it; through this transform a
 * reader that stops reading pauses the socket, then the engine, then the process.
 */
import { Transform, type TransformCallback } from 'node:stream';

const HEADER_BYTES = 8;
const STDOUT = 1;
const STDERR = 2;

export class ExecDemuxer extends Transform {
  private header = Buffer.alloc(0);
  /** Payload bytes left in the current frame. */
  private remaining = 0;
  private streamType = 0;

  constructor(private readonly onStderr: (chunk: Buffer) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remaining === 0) {
        const needed = HEADER_BYTES - this.header.length;
        this.header = Buffer.concat([this.header, chunk.subarray(offset, offset + needed)]);
        offset += Math.min(needed, chunk.length - offset);
        if (this.header.length < HEADER_BYTES) break;
        this.streamType = this.header[0]!;
        this.remaining = this.header.readUInt32BE(4);
        this.header = Buffer.alloc(0);
        continue;
      }
      const payload = chunk.subarray(offset, offset + this.remaining);
      offset += payload.length;
      this.remaining -= payload.length;
      if (this.streamType === STDOUT) this.push(payload);
      else if (this.streamType === STDERR) this.onStderr(payload);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.header.length > 0 || this.remaining > 0) {
      callback(new Error('the exec stream ended in the middle of a frame'));
      return;
    }
    callback();
  }
}
