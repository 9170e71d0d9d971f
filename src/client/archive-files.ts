/**
 * Local archives for the client: a directory packed as a gzip'd tar for an upload, and a
 * downloaded tar extracted into a directory.
 *
 * Extraction is refused whole (UNSAFE_ARCHIVE, nothing written) when an entry would land outside
 * the directory: the archive is read twice from a spool file, first to check every entry by the
 * same rules as bosun's uploads (src/shared/archive-entries.ts: absolute names, `..` leading
 * out, entries through the archive's symlinks, symlinks or hard links leading out, special
 * entries), then to write. Symlinks already in the directory are the one thing the archive
 * cannot show, so each write is also checked on disk: a parent directory must resolve (realpath)
 * inside the directory, files are opened with O_NOFOLLOW, and a new symlink that resolves outside
 * is removed and refused.
 */
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { link, lstat, mkdir, mkdtemp, open, readdir, readlink, realpath, rm, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeWebReadableStream } from 'node:stream/web';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { UnsafeArchiveEntryError, checkEntry, checkLinks, type CheckedEntry } from '../shared/archive-entries.js';
import { BosunClientError } from './errors.js';

/** A scratch directory under the OS's temporary directory, removed with the object. */
export class ScratchDir implements AsyncDisposable {
  private constructor(readonly path: string) {}

  static async create(prefix: string): Promise<ScratchDir> {
    return new ScratchDir(await mkdtemp(join(tmpdir(), prefix)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await rm(this.path, { recursive: true, force: true });
  }
}

/**
 * Writes a gzip'd tar of what `localDir` holds (not the directory itself: its entries are named
 * relative to it) to `archivePath`. Files, directories and symlinks (as links, not followed) are
 * packed; anything else (a socket, a FIFO, a device) is refused with LOCAL_FILE_ERROR.
 */
export async function packDirectory(localDir: string, archivePath: string, signal?: AbortSignal): Promise<void> {
  const root = resolve(localDir);
  const info = await lstat(root).catch((error: unknown) => {
    throw new BosunClientError('LOCAL_FILE_ERROR', `cannot read the directory ${root}: ${(error as Error).message}`, { cause: error });
  });
  if (!info.isDirectory()) throw new BosunClientError('LOCAL_FILE_ERROR', `${root} is not a directory`);
  const pack = tar.pack();
  const written = pipeline(pack, createGzip(), createWriteStream(archivePath), ...(signal === undefined ? [] : [{ signal }]));
  written.catch(() => undefined);
  try {
    await addEntries(pack, root, '', signal);
    pack.finalize();
  } catch (error) {
    pack.destroy(error as Error);
    throw error;
  }
  await written;
}

async function addEntries(pack: tar.Pack, root: string, prefix: string, signal: AbortSignal | undefined): Promise<void> {
  const names = (await readdir(join(root, prefix))).sort();
  for (const name of names) {
    signal?.throwIfAborted();
    const relativeName = prefix === '' ? name : `${prefix}/${name}`;
    const path = join(root, relativeName);
    const stats = await lstat(path);
    const header = { name: relativeName, mode: stats.mode & 0o7777, mtime: stats.mtime };
    if (stats.isDirectory()) {
      await entry(pack, { ...header, name: `${relativeName}/`, type: 'directory' });
      await addEntries(pack, root, relativeName, signal);
    } else if (stats.isSymbolicLink()) {
      await entry(pack, { ...header, type: 'symlink', linkname: await readlink(path) });
    } else if (stats.isFile()) {
      const sink = pack.entry({ ...header, type: 'file', size: stats.size });
      await pipeline(createReadStream(path), sink);
    } else {
      throw new BosunClientError('LOCAL_FILE_ERROR', `${path} is neither a file, a directory nor a symlink; it cannot be uploaded`);
    }
  }
}

function entry(pack: tar.Pack, header: Parameters<tar.Pack['entry']>[0]): Promise<void> {
  return new Promise((resolvePromise, reject) => pack.entry(header, (error) => (error ? reject(error) : resolvePromise())));
}

/** Writes a web stream (a response body) to `path`. */
export async function spool(body: ReadableStream<Uint8Array>, path: string, signal?: AbortSignal): Promise<void> {
  await pipeline(Readable.fromWeb(body as NodeWebReadableStream<Uint8Array>), createWriteStream(path), ...(signal === undefined ? [] : [{ signal }]));
}

/**
 * Extracts the tar at `archivePath` into `localDir` (created when missing) after checking all
 * of it (see the module comment). Resolves with the absolute paths written, in archive order.
 * @throws BosunClientError UNSAFE_ARCHIVE (nothing written when the archive itself is unsafe),
 *   BAD_RESPONSE for a malformed tar.
 */
export async function extractArchive(archivePath: string, localDir: string, signal?: AbortSignal): Promise<string[]> {
  const requested = resolve(localDir);
  const checked: CheckedEntry[] = [];
  try {
    await forEachEntry(archivePath, signal, async (header, content) => {
      checked.push(checkEntry(header));
      content.resume();
      await Promise.resolve();
    });
    checkLinks(checked, requested);
  } catch (error) {
    throw refusal(error);
  }
  await mkdir(requested, { recursive: true });
  const root = await realpath(requested);
  const written: string[] = [];
  let index = 0;
  await forEachEntry(archivePath, signal, async (_header, content) => {
    const entry = checked[index];
    index += 1;
    if (entry === undefined || entry.path === '') {
      content.resume();
      return;
    }
    const target = join(root, ...entry.path.split('/'));
    if (entry.type === 'directory') {
      content.resume();
      await mkdir(target, { recursive: true, mode: (entry.mode & 0o777) | 0o700 });
      requireInside(root, await realpath(target), entry.path);
    } else {
      await prepareParent(root, target, entry.path);
      if (entry.type === 'file') await writeFile(target, entry.mode, content);
      else {
        content.resume();
        if (entry.type === 'symlink') await writeSymlink(root, target, entry);
        else {
          const source = join(root, ...entry.linkname!.split('/'));
          requireInside(root, await realpath(source), entry.path);
          await link(source, target);
        }
      }
    }
    written.push(target);
  });
  return written;
}

type TarEntryStream = tar.ExtractEvents['entry'][1];

/** Reads the tar at `path`, handing each entry to `visit` in order (which consumes its content). */
async function forEachEntry(
  path: string,
  signal: AbortSignal | undefined,
  visit: (header: tar.Header, content: TarEntryStream) => Promise<void>,
): Promise<void> {
  const extract = tar.extract();
  const reading = pipeline(createReadStream(path), extract, ...(signal === undefined ? [] : [{ signal }]));
  reading.catch(() => undefined);
  try {
    for await (const entry of extract) await visit(entry.header, entry);
    await reading;
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (error instanceof BosunClientError || error instanceof UnsafeArchiveEntryError) throw error;
    if ((error as NodeJS.ErrnoException).code !== undefined) throw error;
    throw new BosunClientError('BAD_RESPONSE', `the archive is not a valid tar: ${(error as Error).message}`, { cause: error });
  } finally {
    extract.destroy();
  }
}

function refusal(error: unknown): unknown {
  if (!(error instanceof UnsafeArchiveEntryError)) return error;
  return new BosunClientError('UNSAFE_ARCHIVE', `archive refused, nothing extracted: ${error.message}`, { cause: error });
}

function unsafe(path: string, why: string): BosunClientError {
  return new BosunClientError('UNSAFE_ARCHIVE', `archive refused: entry ${JSON.stringify(path)} ${why}`);
}

/** Whether the real path `real` is `root` or under it. */
function isInside(root: string, real: string): boolean {
  const rel = relative(root, real);
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`));
}

function requireInside(root: string, real: string, entryPath: string): void {
  if (!isInside(root, real)) throw unsafe(entryPath, 'would be written through a symlink in the local directory that leads outside it');
}

/** Creates the entry's parent directories, checks where they really are, and removes a link or file in the way. */
async function prepareParent(root: string, target: string, entryPath: string): Promise<void> {
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  requireInside(root, await realpath(parent), entryPath);
  const existing = await lstat(target).catch(() => undefined);
  if (existing !== undefined && !existing.isDirectory()) await unlink(target);
}

async function writeFile(target: string, mode: number, content: TarEntryStream): Promise<void> {
  // O_NOFOLLOW: a symlink put in the way since prepareParent fails the open instead of being followed.
  const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | (constants.O_NOFOLLOW ?? 0), mode & 0o777);
  await pipeline(content, handle.createWriteStream());
}

async function writeSymlink(root: string, target: string, entry: CheckedEntry): Promise<void> {
  await symlink(entry.linkname!, target);
  const real = await realpath(target).catch(() => undefined);
  if (real === undefined) return; // Dangling: it leads nowhere yet (its target was checked against the archive).
  if (isInside(root, real)) return;
  await unlink(target);
  throw unsafe(entry.path, `is a symlink that resolves outside the local directory (through a symlink that was already there)`);
}
