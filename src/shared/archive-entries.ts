/**
 * The rules that decide whether a tar archive's entries can be extracted safely under a
 * destination directory, wherever it is extracted: into a sandbox (an upload, see
 * src/sandbox/archive.ts) or onto a client's disk (a download, see src/client/archive-files.ts).
 * Pure: no file system, no engine.
 *
 * An entry is unsafe when it is absolute, leads out of the destination with `..`, goes through a
 * symlink of the archive, is a symlink whose target resolves outside the destination (following
 * the archive's other symlinks, as the kernel will once they exist), is a hard link to a path
 * outside, or is a device, FIFO or other special entry.
 */
import { posix } from 'node:path';
import type { Header } from 'tar-stream';

/** How many symlinks resolving one target may follow before it counts as a loop (Linux's ELOOP limit). */
const MAX_SYMLINK_HOPS = 40;

/**
 * An entry that cannot be extracted safely. `why` reads as the rest of a sentence after the
 * entry's name ("leads out of the destination with '..' in its path").
 */
export class UnsafeArchiveEntryError extends Error {
  override readonly name = 'UnsafeArchiveEntryError';

  constructor(
    readonly entryName: string,
    readonly why: string,
  ) {
    super(`entry ${JSON.stringify(entryName)} ${why}`);
  }
}

const refused = (entryName: string, why: string): UnsafeArchiveEntryError => new UnsafeArchiveEntryError(entryName, why);

export type ArchiveEntryType = 'file' | 'directory' | 'symlink' | 'link';

/** One entry as checked: its path relative to the destination, normalised ('' is the destination itself). */
export interface CheckedEntry {
  readonly type: ArchiveEntryType;
  readonly path: string;
  /** Symlink: the target as written; hard link: the normalised path it links to. */
  readonly linkname?: string;
  readonly sizeBytes: number;
  readonly mode: number;
  readonly mtime: Date;
}

/**
 * Normalises an entry's own path and refuses what cannot be extracted safely by itself.
 * @throws UnsafeArchiveEntryError
 */
export function checkEntry(header: Pick<Header, 'name' | 'type' | 'linkname' | 'size' | 'mode' | 'mtime'>): CheckedEntry {
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
export function checkLinks(entries: readonly CheckedEntry[], destination: string): void {
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
