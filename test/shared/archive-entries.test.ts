/**
 * The archive entry rules shared by uploads (src/sandbox/archive.ts, tested further there) and
 * the client's downloads: what an entry normalises to, and each refusal with its reason.
 */
import { describe, expect, it } from 'vitest';
import { UnsafeArchiveEntryError, checkEntry, checkLinks, type CheckedEntry } from '../../src/shared/archive-entries.js';

const header = (name: string, type = 'file', linkname = '') => ({ name, type, linkname, size: 3, mode: 0o100644, mtime: new Date(0) }) as never;

function why(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UnsafeArchiveEntryError);
    return (error as UnsafeArchiveEntryError).why;
  }
  throw new Error('expected a refusal');
}

describe('checkEntry', () => {
  it('normalises names, keeps permission bits only, and takes files, directories and links', () => {
    expect(checkEntry(header('./a//b/../c'))).toMatchObject({ type: 'file', path: 'a/c', sizeBytes: 3, mode: 0o644 });
    expect(checkEntry(header('dir/', 'directory'))).toMatchObject({ type: 'directory', path: 'dir', sizeBytes: 0 });
    expect(checkEntry(header('l', 'symlink', '../x'))).toMatchObject({ type: 'symlink', linkname: '../x' });
    expect(checkEntry(header('h', 'link', './a/../b'))).toMatchObject({ type: 'link', linkname: 'b' });
  });

  it.each([
    ['../x', 'file', '', "leads out of the destination with '..' in its path"],
    ['/etc/passwd', 'file', '', 'has an absolute path'],
    ['a\0b', 'file', '', 'has a NUL byte in its path'],
    ['.', 'file', '', 'names the destination itself'],
    ['dev', 'character-device', '', 'is a character-device entry; only files, directories and links are extracted'],
    ['l', 'symlink', '', 'is a symlink without a valid target'],
    ['h', 'link', '../secret', "leads out of the destination with '..' in its hard link target"],
  ])('refuses %j (%s)', (name, type, linkname, reason) => {
    expect(why(() => checkEntry(header(name, type, linkname)))).toBe(reason);
  });
});

describe('checkLinks', () => {
  const entry = (path: string, type: CheckedEntry['type'] = 'file', linkname?: string): CheckedEntry => ({
    type,
    path,
    ...(linkname === undefined ? {} : { linkname }),
    sizeBytes: 0,
    mode: 0o644,
    mtime: new Date(0),
  });

  it('takes links that stay inside, absolute ones judged against the destination', () => {
    expect(() => checkLinks([entry('a/b/c', 'symlink', '../../x'), entry('abs', 'symlink', '/dest/x'), entry('x')], '/dest')).not.toThrow();
  });

  it('follows the archive’s own symlinks as the kernel will', () => {
    expect(why(() => checkLinks([entry('d1/d2/x', 'symlink', '.'), entry('d1/d2/a', 'symlink', 'x/../../..')], '/dest'))).toBe(
      'is a symlink to "x/../../..", which resolves outside the destination',
    );
    expect(why(() => checkLinks([entry('a', 'symlink', 'b'), entry('b', 'symlink', 'a')], '/dest'))).toBe('is part of a symlink loop');
  });

  it('refuses entries through a symlink of the archive, and a path that is a symlink and something else', () => {
    expect(why(() => checkLinks([entry('s', 'symlink', 'sub'), entry('s/f')], '/dest'))).toBe('goes through the symlink "s"');
    expect(why(() => checkLinks([entry('s', 'symlink', 'sub'), entry('s')], '/dest'))).toBe('is both a symlink and another entry');
  });
});
