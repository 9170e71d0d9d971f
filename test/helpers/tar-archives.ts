/**
 * Tar archives for tests, built and read with tar-stream: entry by entry with names as given (tar
 * tools would refuse the escaping ones), and shaped like the engine's archive API answers where
 * a test wants that (entries named after the requested path's base name: `out/`, `out/fix.patch`).
 * The one place tests build and list tars, so that a fixture means the same bytes in every test.
 */
import { Readable } from 'node:stream';
import tar from 'tar-stream';

export interface TarEntry {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device';
  /** A file's bytes (other types carry none). */
  readonly content?: string | Uint8Array;
  readonly linkname?: string;
  /** Default 0o755 for a directory, 0o644 for anything else (as tar-stream's own). */
  readonly mode?: number;
}

/** The bytes of a tar holding `entries`, in order. */
export async function tarOf(entries: readonly TarEntry[]): Promise<Buffer<ArrayBuffer>> {
  const pack = tar.pack();
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const header = {
      name: entry.name,
      type,
      mode: entry.mode ?? (type === 'directory' ? 0o755 : 0o644),
      ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }),
    };
    if (type === 'file') pack.entry(header, Buffer.from(entry.content ?? ''));
    else pack.entry(header);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** One entry of a tar as read back: type, name, link target, content (as UTF-8). */
export type TarListing = [type: string, name: string, linkname: string | null, content: string];

/** The entries of a tar, in order; rejects with the source's error, or tar-stream's on a malformed tar. */
export async function tarListing(source: Readable | ReadableStream<Uint8Array>): Promise<TarListing[]> {
  const extract = tar.extract();
  const input = source instanceof Readable ? source : Readable.fromWeb(source as Parameters<typeof Readable.fromWeb>[0]);
  input.on('error', (error) => extract.destroy(error));
  input.pipe(extract);
  const seen: TarListing[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    seen.push([entry.header.type, entry.header.name, entry.header.linkname ?? null, Buffer.concat(chunks).toString()]);
  }
  return seen;
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
