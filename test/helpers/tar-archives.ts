/**
 * Tar archives for tests, built with tar-stream, shaped like the engine's archive API answers:
 * entries named after the requested path's base name (`out/`, `out/fix.patch`).
 */
import tar from 'tar-stream';

export interface TarEntry {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo';
  readonly content?: string | Uint8Array;
  readonly linkname?: string;
}

/** The bytes of a tar holding `entries`, in order. */
export async function tarOf(entries: readonly TarEntry[]): Promise<Uint8Array> {
  const pack = tar.pack();
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const header = { name: entry.name, type, mode: type === 'directory' ? 0o755 : 0o644, ...(entry.linkname ? { linkname: entry.linkname } : {}) };
    if (type === 'file') pack.entry(header, Buffer.from(entry.content ?? ''));
    else pack.entry(header);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface StreamOptions {
  /** Bytes per chunk; default 700, so that entries straddle chunks. */
  readonly chunkBytes?: number;
  /** Fails the stream with this error once this many bytes have been read. */
  readonly failAfterBytes?: number;
  readonly failWith?: Error;
  /** Stops delivering (the stream stays open) after this many bytes. */
  readonly stallAfterBytes?: number;
  /** Called when the reader cancels the stream. */
  readonly onCancel?: () => void;
}

/** `bytes` as a web stream, delivered in small chunks. */
export function streamOf(bytes: Uint8Array, options: StreamOptions = {}): ReadableStream<Uint8Array> {
  const chunkBytes = options.chunkBytes ?? 700;
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (options.failAfterBytes !== undefined && offset >= options.failAfterBytes) {
        controller.error(options.failWith ?? new Error('the stream broke'));
        return;
      }
      if (options.stallAfterBytes !== undefined && offset >= options.stallAfterBytes) return new Promise<void>(() => undefined);
      if (offset >= bytes.byteLength) {
        controller.close();
        return;
      }
      const end = Math.min(bytes.byteLength, offset + chunkBytes);
      controller.enqueue(bytes.slice(offset, end));
      offset = end;
    },
    cancel() {
      options.onCancel?.();
    },
  });
}
