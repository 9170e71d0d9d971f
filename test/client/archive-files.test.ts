/**
 * The client's local archives: a directory packed and extracted again comes back the same, and
 * an archive with an entry that would land outside the local directory is refused whole
 * (UNSAFE_ARCHIVE) before anything is written — also through a symlink already in the directory.
 */
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractArchive, packDirectory } from '../../src/client/archive-files.js';
import { BosunClientError } from '../../src/client/errors.js';
import { tarOf, type TarEntry } from '../helpers/tar-archives.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bosun-client-archive-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function archiveFile(entries: readonly TarEntry[]): Promise<string> {
  const path = join(dir, `archive-${Math.random().toString(36).slice(2)}.tar`);
  await writeFile(path, await tarOf(entries));
  return path;
}

async function refusal(promise: Promise<unknown>): Promise<BosunClientError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(BosunClientError);
  return error as BosunClientError;
}

describe('packDirectory + extractArchive', () => {
  it('round-trips files, modes, nested directories and symlinks', async () => {
    const source = join(dir, 'source');
    await mkdir(join(source, 'sub/deeper'), { recursive: true });
    await writeFile(join(source, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    await writeFile(join(source, 'sub/deeper/data.bin'), Buffer.from([0, 1, 2, 255]));
    await symlink('sub/deeper/data.bin', join(source, 'link'));
    const packed = join(dir, 'packed.tar.gz');
    await packDirectory(source, packed);
    const tarPath = join(dir, 'packed.tar');
    await pipeline(createReadStream(packed), createGunzip(), createWriteStream(tarPath));

    const target = join(dir, 'target');
    const written = await extractArchive(tarPath, target);
    expect(written.map((path) => path.slice(target.length + 1)).sort()).toEqual(['link', 'run.sh', 'sub', 'sub/deeper', 'sub/deeper/data.bin']);
    expect(await readFile(join(target, 'run.sh'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
    expect((await stat(join(target, 'run.sh'))).mode & 0o777).toBe(0o755);
    expect([...(await readFile(join(target, 'sub/deeper/data.bin')))]).toEqual([0, 1, 2, 255]);
    expect(await readlink(join(target, 'link'))).toBe('sub/deeper/data.bin');
  });

  it('refuses to pack what is neither a file, a directory nor a symlink, and a path that is no directory', async () => {
    const file = join(dir, 'file');
    await writeFile(file, 'x');
    expect((await refusal(packDirectory(file, join(dir, 'out.tgz')))).code).toBe('LOCAL_FILE_ERROR');
    expect((await refusal(packDirectory(join(dir, 'missing'), join(dir, 'out.tgz')))).code).toBe('LOCAL_FILE_ERROR');
  });
});

describe('extractArchive refuses escapes, writing nothing', () => {
  it.each<[string, TarEntry[]]>([
    [
      'a ../ entry',
      [
        { name: 'ok.txt', content: 'fine' },
        { name: '../escaped.txt', content: 'x' },
      ],
    ],
    [
      'an absolute entry',
      [
        { name: 'ok.txt', content: 'fine' },
        { name: '/tmp/escaped.txt', content: 'x' },
      ],
    ],
    [
      'a symlink leading out',
      [
        { name: 'ok.txt', content: 'fine' },
        { name: 'out', type: 'symlink', linkname: '../..' },
      ],
    ],
    [
      'an absolute symlink',
      [
        { name: 'ok.txt', content: 'fine' },
        { name: 'etc', type: 'symlink', linkname: '/etc' },
      ],
    ],
    [
      'an entry through a symlink of the archive',
      [
        { name: 'here', type: 'symlink', linkname: '.' },
        { name: 'here/ok.txt', content: 'x' },
      ],
    ],
    [
      'a symlink that leads out through another one',
      [
        { name: 'd1/d2/x', type: 'symlink', linkname: '.' },
        { name: 'd1/d2/a', type: 'symlink', linkname: 'x/../../..' },
      ],
    ],
    [
      'a hard link to outside',
      [
        { name: 'ok.txt', content: 'fine' },
        { name: 'hard', type: 'link', linkname: '../secret' },
      ],
    ],
    [
      'a FIFO',
      [
        { name: 'ok.txt', content: 'fine' },
        { name: 'pipe', type: 'fifo' },
      ],
    ],
  ])('%s', async (_what, entries) => {
    const target = join(dir, 'target');
    const error = await refusal(extractArchive(await archiveFile(entries), target));
    expect(error.code).toBe('UNSAFE_ARCHIVE');
    expect(error.message).toMatch(/^archive refused, nothing extracted: entry /);
    // Not even the local directory was created.
    await expect(lstat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(dir)).not.toContain('escaped.txt');
  });

  it('a symlink already in the local directory that leads out is not written through', async () => {
    const target = join(dir, 'target');
    const outside = join(dir, 'outside');
    await mkdir(target);
    await mkdir(outside);
    await symlink(outside, join(target, 'out'));
    const error = await refusal(extractArchive(await archiveFile([{ name: 'out/fix.patch', content: 'patch' }]), target));
    expect(error.code).toBe('UNSAFE_ARCHIVE');
    expect(await readdir(outside)).toEqual([]);
  });

  it('a file already there is replaced, a symlink in its place too (not followed)', async () => {
    const target = join(dir, 'target');
    const victim = join(dir, 'victim');
    await mkdir(target);
    await writeFile(victim, 'untouched');
    await writeFile(join(target, 'a.txt'), 'old');
    await symlink(victim, join(target, 'b.txt'));
    await extractArchive(
      await archiveFile([
        { name: 'a.txt', content: 'new a' },
        { name: 'b.txt', content: 'new b' },
      ]),
      target,
    );
    expect(await readFile(join(target, 'a.txt'), 'utf8')).toBe('new a');
    expect((await lstat(join(target, 'b.txt'))).isFile()).toBe(true);
    expect(await readFile(join(target, 'b.txt'), 'utf8')).toBe('new b');
    expect(await readFile(victim, 'utf8')).toBe('untouched');
  });

  it('a malformed tar is BAD_RESPONSE', async () => {
    const path = join(dir, 'bad.tar');
    await writeFile(path, Buffer.alloc(1024, 7));
    expect((await refusal(extractArchive(path, join(dir, 'target')))).code).toBe('BAD_RESPONSE');
  });

  it('stops with the signal', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(extractArchive(await archiveFile([{ name: 'a', content: 'a' }]), join(dir, 'target'), controller.signal)).rejects.toBe(reason);
  });
});
