/**
 * Checking an uploaded tar (or gzip'd tar) before anything of it reaches a sandbox, and the tar
 * that is then extracted. Pure (no engine), so the rules are unit-tested.
 *
 * An archive is refused whole (SandboxError ARCHIVE_REFUSED, naming the entry and why) when any
 * entry is absolute, leads out of the destination with `..`, goes through a symlink of the
 * archive, is a symlink whose target resolves outside the destination (following the archive's
 * other symlinks, as the kernel will once they exist), is a hard link to a path outside, is a
 * device, FIFO or other special entry, or when the tar is malformed or longer than `maxBytes`
 * once decompressed (reading stops as soon as the cap is passed: a gzip bomb is never inflated).
 *
 * What is extracted is not the uploaded bytes but a tar written afresh ({@link canonicalTar})
 * from the checked entries, each compared with what the check saw: the sandbox's tar never parses
 * anything the check did not, so no difference between two tar parsers (GNU prefix fields, pax
 * records, trailing data) can smuggle an entry past the check.
 *
 * Symlinks that already exist in the destination are not known here; they are the sandbox's own
 * (its agent can write anywhere its user may anyway).
 */
import { posix } from 'node:path';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { SandboxError } from './sandbox-errors.js';
import type { ReopenableBytes } from './sandbox.js';

/** How many symlinks resolving one target may follow before it counts as a loop (Linux's ELOOP limit). */
const MAX_SYMLINK_HOPS = 40;

export interface ArchiveCheckOptions {
  /** Absolute path the archive is extracted into (absolute symlink targets are judged against it). */
  readonly destination: string;
  /** Longest decompressed tar stream accepted, headers included. */
  readonly maxBytes: number;
  readonly signal?: AbortSignal;
}

/** An entry's content as tar-stream hands it out (a streamx stream). */
type TarEntryStream = tar.ExtractEvents['entry'][1];

type EntryType = 'file' | 'directory' | 'symlink' | 'link';

/** One entry as checked: its path relative to the destination, normalised ('' is the destination itself). */
export interface CheckedEntry {
  readonly type: EntryType;
  readonly path: string;
  /** Symlink: the target as written; hard link: the normalised path it links to. */
  readonly linkname?: string;
  readonly sizeBytes: number;
  readonly mode: number;
  readonly mtime: Date;
}

export interface CheckedArchive {
  readonly entries: readonly CheckedEntry[];
  /** Names directly under the destination that the archive creates or replaces, sorted. */
  readonly topLevel: readonly string[];
}

function refused(entryName: string, why: string): SandboxError {
  return new SandboxError('ARCHIVE_REFUSED', `archive refused, nothing extracted: entry ${JSON.stringify(entryName)} ${why}`);
}

function malformed(error: unknown): SandboxError {
  const detail = error instanceof Error ? error.message : String(error);
  return new SandboxError('ARCHIVE_REFUSED', `archive refused, nothing extracted: not a valid tar or gzip'd tar (${detail})`, { cause: error });
}

/**
 * The decompressed tar stream of an upload: gunzipped when it starts with the gzip magic. Errors
 * with ARCHIVE_REFUSED as soon as more than `maxBytes` come out, and stops reading there.
 */
export function openTar(archive: ReopenableBytes, maxBytes: number): Readable {
  const output = new PassThrough();
  void (async () => {
    const gzipped = await startsWithGzipMagic(archive);
    const source = Readable.fromWeb(archive.stream() as NodeWebReadableStream<Uint8Array>);
    // Each stage reads only as fast as the next one takes: past the cap, inflating stops.
    if (gzipped) await pipeline(source, createGunzip(), new ByteCap(maxBytes), output);
    else await pipeline(source, new ByteCap(maxBytes), output);
  })().catch((error: unknown) => {
    output.destroy(error instanceof SandboxError ? error : malformed(error));
  });
  return output;
}

async function startsWithGzipMagic(archive: ReopenableBytes): Promise<boolean> {
  const reader = archive.stream().getReader();
  let head = new Uint8Array(0);
  try {
    while (head.length < 2) {
      const { done, value } = await reader.read();
      if (done) break;
      head = Buffer.concat([head, value]);
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return head[0] === 0x1f && head[1] === 0x8b;
}

/** Counts bytes and errors once there are more than `maxBytes`. */
class ByteCap extends Transform {
  private total = 0;

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.total += chunk.length;
    if (this.total > this.maxBytes) {
      callback(
        new SandboxError('ARCHIVE_REFUSED', `archive refused, nothing extracted: it holds more than ${this.maxBytes} bytes once decompressed`),
      );
      return;
    }
    callback(null, chunk);
  }
}

/**
 * Reads the whole archive once and checks every entry (see the file's comment).
 * @throws SandboxError ARCHIVE_REFUSED, or the signal's reason.
 */
export async function checkArchive(archive: ReopenableBytes, options: ArchiveCheckOptions): Promise<CheckedArchive> {
  const entries: CheckedEntry[] = [];
  await forEachEntry(archive, options, (header, content) => {
    entries.push(checkEntry(header));
    content.resume();
    return Promise.resolve();
  });
  checkLinks(entries, options.destination);
  const topLevel = new Set<string>();
  for (const entry of entries) if (entry.path !== '') topLevel.add(entry.path.split('/')[0]!);
  return { entries, topLevel: [...topLevel].sort() };
}

/**
 * A tar written afresh from a checked archive's entries, re-read from `archive`: what the
 * sandbox's tar extracts (relative to the destination). Errors with ARCHIVE_REFUSED when the
 * archive no longer reads as it did when checked. Destroying it (or the signal) stops the reading.
 */
export function canonicalTar(archive: ReopenableBytes, checked: CheckedArchive, options: Pick<ArchiveCheckOptions, 'maxBytes' | 'signal'>): Readable {
  const pack = tar.pack();
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  // An entry waits for the pack to take it; a reader that went away must not leave it waiting.
  const stopped = new Promise<never>((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
  stopped.catch(() => undefined);
  let index = 0;
  let failure: Error | undefined;
  forEachEntry(archive, { maxBytes: options.maxBytes, signal }, async (header, content) => {
    const entry = checkEntry(header);
    const expected = checked.entries[index];
    index += 1;
    if (!expected || !sameEntry(entry, expected)) {
      throw new SandboxError(
        'ARCHIVE_REFUSED',
        `archive refused: it changed between its check and its extraction (entry ${JSON.stringify(header.name)})`,
      );
    }
    if (entry.path === '') {
      // The destination itself: left as it is.
      content.resume();
      return;
    }
    const name = entry.type === 'directory' ? `${entry.path}/` : entry.path;
    const written = new Promise<void>((resolve, reject) => {
      const base = { name, mode: entry.mode, mtime: entry.mtime };
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (entry.type === 'file') {
        const sink = pack.entry({ ...base, type: 'file', size: entry.sizeBytes }, done);
        content.on('error', (error: Error) => sink.destroy(error));
        content.pipe(sink);
        return;
      }
      content.resume();
      if (entry.type === 'directory') pack.entry({ ...base, type: 'directory' }, done);
      else pack.entry({ ...base, type: entry.type, linkname: entry.linkname! }, done);
    });
    written.catch(() => undefined);
    await Promise.race([written, stopped]);
  })
    .then(() => {
      if (index !== checked.entries.length)
        throw new SandboxError('ARCHIVE_REFUSED', 'archive refused: it changed between its check and its extraction');
      pack.finalize();
    })
    .catch((error: unknown) => {
      failure = error instanceof Error ? error : new Error(String(error));
      pack.destroy();
    });
  // The reader sees the failure through the iteration below, not as an event of the pack.
  pack.on('error', () => undefined);
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of pack as AsyncIterable<Buffer>) yield chunk;
    } catch (error) {
      throw failure ?? error;
    }
    if (failure !== undefined) throw failure;
  }
  const output = Readable.from(chunks(), { objectMode: false });
  output.once('close', () => {
    if (!output.readableEnded) stop.abort(new Error('the reader of the archive went away'));
  });
  return output;
}

function sameEntry(a: CheckedEntry, b: CheckedEntry): boolean {
  return a.type === b.type && a.path === b.path && a.linkname === b.linkname && a.sizeBytes === b.sizeBytes && a.mode === b.mode;
}

/** Parses the archive and hands each entry to `visit` in order (the entry's content must be consumed). */
async function forEachEntry(
  archive: ReopenableBytes,
  options: Pick<ArchiveCheckOptions, 'maxBytes' | 'signal'>,
  visit: (header: tar.Header, content: TarEntryStream) => Promise<void>,
): Promise<void> {
  const { signal } = options;
  signal?.throwIfAborted();
  const input = openTar(archive, options.maxBytes);
  const extract = tar.extract();
  let inputError: unknown;
  input.on('error', (error) => {
    inputError = error;
    extract.destroy(error);
  });
  const onAbort = () => input.destroy(signal?.reason as Error);
  signal?.addEventListener('abort', onAbort, { once: true });
  (input as NodeJS.ReadableStream).pipe(extract);
  try {
    for await (const entry of extract) {
      await visit(entry.header, entry);
    }
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    const cause = inputError ?? error;
    throw cause instanceof SandboxError ? cause : malformed(cause);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    input.destroy();
    extract.destroy();
  }
  if (signal?.aborted) throw signal.reason;
  if (inputError !== undefined) throw inputError instanceof SandboxError ? inputError : malformed(inputError);
}

/** Normalises an entry's own path and refuses what cannot be extracted safely by itself. */
export function checkEntry(header: tar.Header): CheckedEntry {
  const name = header.name;
  const type = header.type as string;
  if (type !== 'file' && type !== 'directory' && type !== 'symlink' && type !== 'link') {
    throw refused(name, `is a ${type ?? 'special'} entry; only files, directories and links are extracted`);
  }
  const path = relativePath(name, name);
  if (path === '' && type !== 'directory') throw refused(name, 'names the destination itself');
  let linkname: string | undefined;
  if (type === 'symlink') {
    linkname = header.linkname ?? '';
    if (linkname === '' || linkname.includes('\0')) throw refused(name, 'is a symlink without a valid target');
  } else if (type === 'link') {
    linkname = relativePath(name, header.linkname ?? '', 'hard link target');
    if (linkname === '') throw refused(name, 'is a hard link to the destination itself');
  }
  return {
    type,
    path,
    ...(linkname === undefined ? {} : { linkname }),
    sizeBytes: type === 'file' ? header.size : 0,
    mode: (header.mode ?? (type === 'directory' ? 0o755 : 0o644)) & 0o7777,
    mtime: header.mtime ?? new Date(0),
  };
}

/** A path inside the archive, normalised relative to the destination; refuses absolute paths and `..` leading out. */
function relativePath(entryName: string, path: string, what = 'path'): string {
  if (path === '' && what !== 'path') throw refused(entryName, `has an empty ${what}`);
  if (path.includes('\0')) throw refused(entryName, `has a NUL byte in its ${what}`);
  if (path.startsWith('/')) throw refused(entryName, `has an absolute ${what}`);
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw refused(entryName, `leads out of the destination with '..' in its ${what}`);
      parts.pop();
    } else parts.push(part);
  }
  return parts.join('/');
}

/**
 * The checks that need the whole archive: no entry (and no hard link target) goes through one of
 * its symlinks, a path that is a symlink is nothing else, and every symlink's target resolves
 * inside the destination once all of the archive's symlinks exist.
 */
function checkLinks(entries: readonly CheckedEntry[], destination: string): void {
  const symlinks = new Map<string, string>();
  for (const entry of entries) {
    if (entry.type !== 'symlink') continue;
    const earlier = symlinks.get(entry.path);
    if (earlier !== undefined && earlier !== entry.linkname) throw refused(entry.path, 'is a symlink declared twice with different targets');
    symlinks.set(entry.path, entry.linkname!);
  }
  if (symlinks.size === 0) return;
  const throughSymlink = (path: string): string | undefined => {
    let end = path.indexOf('/');
    while (end !== -1) {
      const prefix = path.slice(0, end);
      if (symlinks.has(prefix)) return prefix;
      end = path.indexOf('/', end + 1);
    }
    return undefined;
  };
  const root = posix.normalize(destination).replace(/(.)\/+$/, '$1');
  for (const [path, target] of symlinks) {
    const resolved = resolveSymlink(path, target, symlinks, root, { hops: 0 });
    if (resolved === 'outside') throw refused(path, `is a symlink to ${JSON.stringify(target)}, which resolves outside the destination`);
    if (resolved === 'loop') throw refused(path, 'is part of a symlink loop');
  }
  for (const entry of entries) {
    if (entry.type !== 'symlink' && symlinks.has(entry.path)) throw refused(entry.path, 'is both a symlink and another entry');
    const via = throughSymlink(entry.path) ?? (entry.type === 'link' ? throughSymlink(entry.linkname!) : undefined);
    if (via !== undefined) throw refused(entry.path, `goes through the symlink ${JSON.stringify(via)}`);
  }
}

/**
 * Where a symlink leads, as path parts relative to the destination, following the archive's
 * symlinks as the kernel will: `..` after a symlink goes up from where the symlink leads.
 */
function resolveSymlink(
  linkPath: string,
  target: string,
  symlinks: ReadonlyMap<string, string>,
  root: string,
  budget: { hops: number },
): string[] | 'outside' | 'loop' {
  // Counted over the whole resolution, nested links included (as Linux counts), so that links
  // built to double at each level cannot make the check exponential.
  budget.hops += 1;
  if (budget.hops > MAX_SYMLINK_HOPS) return 'loop';
  let rest = target;
  let parts: string[];
  if (target.startsWith('/')) {
    const normalised = posix.normalize(target);
    if (normalised !== root && !normalised.startsWith(root === '/' ? '/' : `${root}/`)) return 'outside';
    rest = normalised.slice(root.length);
    parts = [];
  } else {
    parts = linkPath.split('/').slice(0, -1);
  }
  for (const part of rest.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return 'outside';
      parts.pop();
      continue;
    }
    parts.push(part);
    const next = symlinks.get(parts.join('/'));
    if (next === undefined) continue;
    const resolved = resolveSymlink(parts.join('/'), next, symlinks, root, budget);
    if (!Array.isArray(resolved)) return resolved;
    parts = resolved;
  }
  return parts;
}
