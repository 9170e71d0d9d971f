import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { canonicalTar, checkArchive, type CheckedArchive } from '../../src/sandbox/archive.js';
import { SandboxError } from '../../src/sandbox/sandbox-errors.js';
import type { ReopenableBytes } from '../../src/sandbox/sandbox.js';
import { tarListing, tarOf, type TarEntry } from '../helpers/tar-archives.js';

const MiB = 1024 ** 2;
const DESTINATION = '/workspace/dest';

/** Bytes that can be read again and again, in chunks pulled one at a time, counting what was handed out. */
function reopenable(bytes: Buffer, chunkBytes = 16 * 1024): ReopenableBytes & { delivered: number; cancelled: (count: number) => Promise<void> } {
  let cancels = 0;
  const waiters: Array<[number, () => void]> = [];
  const onCancel = () => {
    cancels += 1;
    for (const [count, resolve] of waiters) if (cancels >= count) resolve();
  };
  const source = {
    size: bytes.length,
    delivered: 0,
    /** Resolves once `count` streams of these bytes have been cancelled by their readers. */
    cancelled: (count: number) => new Promise<void>((resolve) => (cancels >= count ? resolve() : waiters.push([count, resolve]))),
    stream(): ReadableStream<Uint8Array> {
      let offset = 0;
      return new ReadableStream<Uint8Array>(
        {
          pull(controller) {
            if (offset >= bytes.length) return controller.close();
            const chunk = bytes.subarray(offset, offset + chunkBytes);
            offset += chunk.length;
            source.delivered += chunk.length;
            controller.enqueue(new Uint8Array(chunk));
          },
          cancel: () => onCancel(),
        },
        { highWaterMark: 0 },
      );
    },
  };
  return source;
}

function check(bytes: Buffer, maxBytes = 10 * MiB): Promise<CheckedArchive> {
  return checkArchive(reopenable(bytes), { destination: DESTINATION, maxBytes });
}

async function refusal(entries: readonly TarEntry[] | Buffer, maxBytes?: number): Promise<string> {
  const bytes = Buffer.isBuffer(entries) ? entries : await tarOf(entries);
  const error = await check(bytes, maxBytes).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SandboxError);
  expect((error as SandboxError).code).toBe('ARCHIVE_REFUSED');
  return (error as SandboxError).message;
}

const VALID_TREE: readonly TarEntry[] = [
  { name: './', type: 'directory' },
  { name: './src/', type: 'directory', mode: 0o750 },
  { name: './src/main.sh', content: 'echo hi\n', mode: 0o755 },
  { name: './src/lib/util.sh', content: 'util\n' },
  { name: 'docs/readme.md', content: '# readme\n' },
  { name: 'docs/latest', type: 'symlink', linkname: 'readme.md' },
  { name: 'docs/up', type: 'symlink', linkname: '..' },
  { name: 'docs/abs', type: 'symlink', linkname: `${DESTINATION}/src/main.sh` },
  { name: 'src/main-copy.sh', type: 'link', linkname: './src/main.sh' },
  { name: `${'long-directory-name/'.repeat(8)}file-with-a-name-past-the-100-bytes-of-a-ustar-header.txt`, content: 'long' },
  { name: 'top.txt', content: 'top' },
  { name: 'a/./b/../c.txt', content: 'normalised' },
];

describe('checkArchive accepts', () => {
  it('a nested tree with links that stay inside, and names its top-level entries', async () => {
    const checked = await check(await tarOf(VALID_TREE));
    expect(checked.topLevel).toEqual(['a', 'docs', 'long-directory-name', 'src', 'top.txt']);
    expect(checked.entries.map((entry) => [entry.type, entry.path, entry.linkname ?? null])).toEqual([
      ['directory', '', null],
      ['directory', 'src', null],
      ['file', 'src/main.sh', null],
      ['file', 'src/lib/util.sh', null],
      ['file', 'docs/readme.md', null],
      ['symlink', 'docs/latest', 'readme.md'],
      ['symlink', 'docs/up', '..'],
      ['symlink', 'docs/abs', `${DESTINATION}/src/main.sh`],
      ['link', 'src/main-copy.sh', 'src/main.sh'],
      ['file', `${'long-directory-name/'.repeat(8)}file-with-a-name-past-the-100-bytes-of-a-ustar-header.txt`, null],
      ['file', 'top.txt', null],
      ['file', 'a/c.txt', null],
    ]);
    expect(checked.entries[1]!.mode).toBe(0o750);
    expect(checked.entries[2]).toMatchObject({ mode: 0o755, sizeBytes: 8 });
  });

  it('the same tree gzip’d', async () => {
    const plain = await check(await tarOf(VALID_TREE));
    const gzipped = await check(gzipSync(await tarOf(VALID_TREE)));
    expect(gzipped).toEqual(plain);
  });

  it('10,000 tiny entries', async () => {
    const entries: TarEntry[] = Array.from({ length: 10_000 }, (_v, i) => ({ name: `d${i % 100}/f${i}`, content: String(i) }));
    const checked = await check(await tarOf(entries), 20 * MiB);
    expect(checked.entries).toHaveLength(10_000);
    expect(checked.topLevel).toHaveLength(100);
  });

  it('an empty archive', async () => {
    expect(await check(await tarOf([]))).toEqual({ entries: [], topLevel: [] });
  });
});

describe('checkArchive refuses, naming the entry', () => {
  it('a `..` that leads out', async () => {
    expect(await refusal([{ name: 'ok.txt' }, { name: '../x' }])).toMatch(/entry "\.\.\/x" leads out of the destination/);
    expect(await refusal([{ name: 'a/../../x' }])).toMatch(/"a\/\.\.\/\.\.\/x" leads out/);
  });

  it('an absolute entry', async () => {
    expect(await refusal([{ name: '/etc/x', content: 'x' }])).toMatch(/entry "\/etc\/x" has an absolute path/);
  });

  it('a symlink to /etc, and a file under it', async () => {
    expect(
      await refusal([
        { name: 'etc', type: 'symlink', linkname: '/etc' },
        { name: 'etc/passwd', content: 'root::0:0' },
      ]),
    ).toMatch(/entry "etc" is a symlink to "\/etc", which resolves outside/);
  });

  it('a file through a symlink of the archive, even one that points inside', async () => {
    expect(
      await refusal([
        { name: 'sub/', type: 'directory' },
        { name: 'd', type: 'symlink', linkname: 'sub' },
        { name: 'd/x', content: 'x' },
      ]),
    ).toMatch(/entry "d\/x" goes through the symlink "d"/);
  });

  it('a symlink a -> ../../x', async () => {
    expect(await refusal([{ name: 'a', type: 'symlink', linkname: '../../x' }])).toMatch(
      /entry "a" is a symlink to "\.\.\/\.\.\/x", which resolves outside/,
    );
  });

  it('a symlink that leads out only through another symlink, in either order', async () => {
    // c -> . is the destination itself, so b -> c/.. is its parent, although "c/.." alone looks like "."
    const links: TarEntry[] = [
      { name: 'c', type: 'symlink', linkname: '.' },
      { name: 'b', type: 'symlink', linkname: 'c/..' },
    ];
    expect(await refusal(links)).toMatch(/entry "b" is a symlink to "c\/\.\.", which resolves outside/);
    expect(await refusal([...links].reverse())).toMatch(/entry "b" is a symlink/);
  });

  it('symlink loops, and links built to double at each level, without exponential work', async () => {
    expect(
      await refusal([
        { name: 'a', type: 'symlink', linkname: 'b' },
        { name: 'b', type: 'symlink', linkname: 'a' },
      ]),
    ).toMatch(/symlink loop/);
    const doubling: TarEntry[] = [{ name: 's0', type: 'symlink', linkname: '.' }];
    for (let i = 1; i <= 40; i += 1) doubling.push({ name: `s${i}`, type: 'symlink', linkname: `s${i - 1}/s${i - 1}` });
    expect(await refusal(doubling)).toMatch(/symlink loop/);
  });

  it('a hard link out', async () => {
    expect(await refusal([{ name: 'h', type: 'link', linkname: '../../etc/passwd' }])).toMatch(
      /entry "h" leads out of the destination with '\.\.' in its hard link target/,
    );
    expect(await refusal([{ name: 'h', type: 'link', linkname: '/etc/passwd' }])).toMatch(/entry "h" has an absolute hard link target/);
  });

  it('devices and FIFOs', async () => {
    expect(await refusal([{ name: 'fifo', type: 'fifo' }])).toMatch(/entry "fifo" is a fifo entry/);
    expect(await refusal([{ name: 'null', type: 'character-device' }])).toMatch(/entry "null" is a character-device entry/);
  });

  it('a gzip bomb, without inflating it: reading stops at the cap', async () => {
    // 2 GiB of zeros inside a tar, as 2048 gzip members of 1 MiB each (about 1 KiB apiece): big
    // enough that what the streams buffer ahead of the check (64 KiB a stream from Node 22) is a
    // small part of it.
    const member = gzipSync(Buffer.alloc(MiB));
    const header = await tarOf([{ name: 'zeros', content: Buffer.alloc(0) }]);
    const bomb = Buffer.concat([gzipSync(header.subarray(0, 512)), ...Array.from({ length: 2048 }, () => member)]);
    const source = reopenable(bomb, 4096);
    const error = await checkArchive(source, { destination: DESTINATION, maxBytes: MiB }).catch((e: unknown) => e);
    expect((error as SandboxError).code).toBe('ARCHIVE_REFUSED');
    expect((error as SandboxError).message).toMatch(/more than 1048576 bytes once decompressed/);
    // A few members' worth was read, not the 2048.
    expect(source.delivered).toBeLessThan(bomb.length / 4);
  });

  it('a plain tar past maxBytes', async () => {
    expect(await refusal([{ name: 'big', content: Buffer.alloc(2 * MiB) }], MiB)).toMatch(/more than 1048576 bytes/);
  });

  it('bytes that are not a tar, a truncated tar, and a broken gzip', async () => {
    expect(await refusal(Buffer.from('this is not a tar archive at all'.repeat(40)))).toMatch(/not a valid tar/);
    const whole = await tarOf([{ name: 'file', content: Buffer.alloc(4096, 1) }]);
    expect(await refusal(whole.subarray(0, 1500))).toMatch(/not a valid tar/);
    expect(await refusal(gzipSync(whole).subarray(0, 100))).toMatch(/not a valid tar or gzip'd tar/);
  });

  it('an abort, with its reason', async () => {
    const controller = new AbortController();
    controller.abort(new Error('client went away'));
    await expect(
      checkArchive(reopenable(await tarOf(VALID_TREE)), { destination: DESTINATION, maxBytes: MiB, signal: controller.signal }),
    ).rejects.toThrow('client went away');
  });
});

describe('canonicalTar', () => {
  it('writes the checked entries afresh, with normalised names and the same contents', async () => {
    const bytes = await tarOf(VALID_TREE);
    const checked = await check(bytes);
    const seen = await tarListing(canonicalTar(reopenable(bytes), checked, { maxBytes: 10 * MiB }));
    expect(seen).toEqual([
      ['directory', 'src/', null, ''],
      ['file', 'src/main.sh', null, 'echo hi\n'],
      ['file', 'src/lib/util.sh', null, 'util\n'],
      ['file', 'docs/readme.md', null, '# readme\n'],
      ['symlink', 'docs/latest', 'readme.md', ''],
      ['symlink', 'docs/up', '..', ''],
      ['symlink', 'docs/abs', `${DESTINATION}/src/main.sh`, ''],
      ['link', 'src/main-copy.sh', 'src/main.sh', ''],
      ['file', `${'long-directory-name/'.repeat(8)}file-with-a-name-past-the-100-bytes-of-a-ustar-header.txt`, null, 'long'],
      ['file', 'top.txt', null, 'top'],
      ['file', 'a/c.txt', null, 'normalised'],
    ]);
  });

  it('stops reading the archive when its reader goes away', async () => {
    const bytes = await tarOf([{ name: 'big.bin', content: Buffer.alloc(8 * MiB, 1) }]);
    const checked = await check(bytes, 10 * MiB);
    const source = reopenable(bytes);
    const stream = canonicalTar(source, checked, { maxBytes: 10 * MiB });
    for await (const _chunk of stream) break;
    // The gzip sniff cancels the first stream at once; the second is the one being read.
    await source.cancelled(2);
    expect(source.delivered).toBeLessThan(bytes.length / 2);
  });

  it('errors when the archive reads differently the second time', async () => {
    const checked = await check(await tarOf([{ name: 'safe.txt', content: 'x' }]));
    const swapped = await tarOf([{ name: 'evil', type: 'symlink', linkname: '/etc' }]);
    await expect(tarListing(canonicalTar(reopenable(swapped), checked, { maxBytes: MiB }))).rejects.toThrow(
      /changed between its check and its extraction/,
    );
  });
});
