/**
 * Archives in and out of a real sandbox (issue 15): uploads are checked whole and refused without
 * a trace, what is accepted lands with its modes, links and owner, and a directory read back as a
 * tar holds the same files. A tar read out of the sandbox is produced only as fast as it is read,
 * and cancelling it kills the sandbox's tar.
 */
import { gzipSync } from 'node:zlib';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { delay } from '../../src/shared/deadline.js';
import type { DockerSandbox } from '../../src/sandbox/docker-sandbox.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { TEST_IMAGE, createTestDocker, readInside, removeLeftovers, sandboxErrorOf, testInstanceId } from '../helpers/docker.js';
import { tarListing, tarOf, type TarEntry } from '../helpers/tar-archives.js';

const MiB = 1024 ** 2;
const WORKSPACE_BYTES = 48 * MiB;
const instanceId = testInstanceId();
let docker: Docker;
let manager: SandboxManager;
let sandbox: DockerSandbox;
let dirSeq = 0;

function dir(): string {
  dirSeq += 1;
  return `/workspace/a${dirSeq}`;
}

/** Polls `read` until it gives the same answer twice in a row (or the deadline passes). */
async function settled(read: () => Promise<string>, deadlineMs = 20_000): Promise<string> {
  const deadline = Date.now() + deadlineMs;
  let last = await read();
  while (Date.now() < deadline) {
    await delay(200);
    const next = await read();
    if (next === last) return next;
    last = next;
  }
  throw new Error(`still changing after ${deadlineMs} ms: ${last}`);
}

async function until(predicate: () => Promise<boolean>, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${deadlineMs} ms`);
    await delay(100);
  }
}

const TREE: readonly TarEntry[] = [
  { name: 'project/', type: 'directory', mode: 0o750 },
  { name: 'project/run.sh', content: '#!/bin/sh\necho "ran in $(pwd)"\n', mode: 0o755 },
  { name: 'project/src/data.bin', content: Buffer.from([0, 1, 2, 0xff, 0xfe, 0x0a, 0]) },
  { name: 'project/latest', type: 'symlink', linkname: 'run.sh' },
  { name: 'project/run-copy.sh', type: 'link', linkname: 'project/run.sh' },
  { name: `project/${'nested-directory/'.repeat(7)}a-file-name-longer-than-what-a-ustar-header-holds.txt`, content: 'long' },
  { name: 'notes.txt', content: 'top level\n', mode: 0o600 },
];

beforeAll(async () => {
  docker = createTestDocker();
  manager = new SandboxManager(docker, instanceId, {
    isolation: { user: '1000:1000', tmpBytes: 128 * MiB, workspaceBytes: WORKSPACE_BYTES, network: null },
  });
  sandbox = await manager.create({ runId: `${instanceId}-archives`, image: TEST_IMAGE, limits: { cpus: 1, memoryBytes: 512 * MiB, pidsLimit: 200 } });
});

afterAll(async () => {
  await manager?.disposeAll();
  expect(await removeLeftovers(docker, instanceId)).toBe(0);
});

describe('extractArchive', () => {
  it('extracts a gzip’d tree (created destination, modes, links, long names, the sandbox user as owner) and returns its top-level entries', async () => {
    const dest = dir();
    const entries = await sandbox.extractArchive(dest, new Blob([gzipSync(await tarOf(TREE))]), { maxBytes: 10 * MiB });
    expect(entries).toEqual([
      { path: `${dest}/notes.txt`, type: 'FILE', sizeBytes: 10, mode: 0o600 },
      { path: `${dest}/project`, type: 'DIRECTORY', sizeBytes: expect.any(Number) as number, mode: 0o750 },
    ]);
    expect(await readInside(docker, sandbox.id, `cd ${dest}/project && stat -c '%u %a %h %N' run.sh run-copy.sh latest`)).toBe(
      ['1000 755 2 run.sh', '1000 755 2 run-copy.sh', "1000 777 1 'latest' -> 'run.sh'"].join('\n'),
    );
    const data = await sandbox.readFile(`${dest}/project/src/data.bin`, { maxBytes: 100 });
    expect([...data.content]).toEqual([0, 1, 2, 0xff, 0xfe, 0x0a, 0]);
    const long = await sandbox.readFile(`${dest}/project/${'nested-directory/'.repeat(7)}a-file-name-longer-than-what-a-ustar-header-holds.txt`, {
      maxBytes: 100,
    });
    expect(Buffer.from(long.content).toString()).toBe('long');
    const lines: string[] = [];
    expect(await sandbox.exec(`cd ${dest}/project && ./latest`, { onOutput: (_s, line) => lines.push(line) })).toEqual({ exitCode: 0 });
    expect(lines).toEqual([`ran in ${dest}/project`]);
  });

  it('adds to an existing directory and returns only what the archive holds at its top', async () => {
    const dest = dir();
    await sandbox.writeFiles([{ path: `${dest}/kept.txt`, content: Buffer.from('kept') }]);
    const entries = await sandbox.extractArchive(dest, new Blob([await tarOf([{ name: './added.txt', content: 'added' }])]), { maxBytes: MiB });
    expect(entries.map((entry) => entry.path)).toEqual([`${dest}/added.txt`]);
    expect((await sandbox.listFiles(dest)).map((entry) => entry.path)).toEqual([`${dest}/added.txt`, `${dest}/kept.txt`]);
  });

  it('refuses escaping archives whole: the destination stays empty and nothing lands outside', async () => {
    const dest = dir();
    expect((await sandbox.exec(`mkdir -p ${dest}`)).exitCode).toBe(0);
    const escapes: Array<[string, TarEntry[]]> = [
      [
        'dot-dot',
        [
          { name: 'first.txt', content: 'x' },
          { name: '../escaped-dot-dot', content: 'x' },
        ],
      ],
      [
        'absolute',
        [
          { name: 'first.txt', content: 'x' },
          { name: '/tmp/escaped-absolute', content: 'x' },
        ],
      ],
      [
        'symlink',
        [
          { name: 'first.txt', content: 'x' },
          { name: 'out', type: 'symlink', linkname: '../../tmp' },
          { name: 'out/escaped-symlink', content: 'x' },
        ],
      ],
    ];
    for (const [label, entries] of escapes) {
      const error = await sandboxErrorOf(sandbox.extractArchive(dest, new Blob([await tarOf(entries)]), { maxBytes: MiB }));
      expect(error.code, label).toBe('ARCHIVE_REFUSED');
    }
    expect(await sandbox.listFiles(dest)).toEqual([]);
    expect(await readInside(docker, sandbox.id, 'find / -xdev -name "escaped-*" 2>/dev/null; find /tmp /workspace -name "escaped-*"')).toBe('');
  });

  it('reports FILE_ERROR when the sandbox runs out of space midway', async () => {
    const dest = dir();
    const big = await tarOf([{ name: 'big.bin', content: Buffer.alloc(WORKSPACE_BYTES + 8 * MiB, 7) }]);
    const error = await sandboxErrorOf(sandbox.extractArchive(dest, new Blob([big]), { maxBytes: 100 * MiB }));
    expect(error.code).toBe('FILE_ERROR');
    expect(error.message).toMatch(/No space left on device/);
    await sandbox.exec(`rm -rf ${dest}`);
  });
});

describe('readArchive', () => {
  it('reads a directory back as a tar holding the same files', async () => {
    const dest = dir();
    await sandbox.extractArchive(dest, new Blob([await tarOf(TREE)]), { maxBytes: 10 * MiB });
    const seen = await tarListing(await sandbox.readArchive(`${dest}/project`));
    // The two names of the hard-linked script: tar stores the first it meets as the file, the other as a link to it.
    const [script, copy] = seen.filter(([, name]) => /run(-copy)?\.sh$/.test(name)).sort(([a], [b]) => a.localeCompare(b));
    expect([script![0], copy![0], copy![2]]).toEqual(['file', 'link', script![1]]);
    expect(script![3]).toBe('#!/bin/sh\necho "ran in $(pwd)"\n');
    const files = seen.filter(([type, name]) => type === 'file' && name !== script![1]).map(([, name, , content]) => [name, content]);
    expect(files.sort()).toEqual(
      [
        ['project/src/data.bin', Buffer.from([0, 1, 2, 0xff, 0xfe, 0x0a, 0]).toString()],
        [`project/${'nested-directory/'.repeat(7)}a-file-name-longer-than-what-a-ustar-header-holds.txt`, 'long'],
      ].sort(),
    );
    expect(seen.filter(([type]) => type === 'symlink').map(([, name, link]) => [name, link])).toEqual([['project/latest', 'run.sh']]);
    const single = await tarListing(await sandbox.readArchive(`${dest}/notes.txt`));
    expect(single).toEqual([['file', 'notes.txt', null, 'top level\n']]);
  });

  it('answers FILE_NOT_FOUND for a missing path', async () => {
    expect((await sandboxErrorOf(sandbox.readArchive(`${dir()}/missing`))).code).toBe('FILE_NOT_FOUND');
  });

  it('produces the tar only as it is read, and cancelling kills the sandbox’s tar', async () => {
    const path = '/tmp/big-for-archive';
    expect((await sandbox.exec(`head -c ${64 * MiB} /dev/urandom > ${path}`)).exitCode).toBe(0);
    const stream = await sandbox.readArchive(path);
    const reader = stream.getReader();
    expect((await reader.read()).done).toBe(false);
    const tarPid = await readInside(docker, sandbox.id, 'ps -o pid,args | awk \'$2 == "tar" && $3 == "-c" { print $1 }\'');
    expect(tarPid).toMatch(/^\d+$/);
    // With nobody reading, the sandbox's tar blocks once the pipes between are full.
    const written = Number((await settled(() => readInside(docker, sandbox.id, `grep wchar /proc/${tarPid}/io`))).replace(/\D/g, ''));
    expect(written).toBeLessThan(32 * MiB);
    expect(await readInside(docker, sandbox.id, `test -d /proc/${tarPid} && echo alive`)).toBe('alive');
    await reader.cancel();
    await until(async () => (await readInside(docker, sandbox.id, `test -d /proc/${tarPid} && echo alive; exit 0`)) === '');
    await sandbox.exec(`rm -f ${path}`);
  });

  it('errors the stream with the reason of an abort, and kills the sandbox’s tar', async () => {
    const path = '/tmp/big-for-abort';
    expect((await sandbox.exec(`head -c ${16 * MiB} /dev/zero > ${path}`)).exitCode).toBe(0);
    const controller = new AbortController();
    const reader = (await sandbox.readArchive(path, controller.signal)).getReader();
    expect((await reader.read()).done).toBe(false);
    controller.abort(new Error('the client went away'));
    await expect(
      (async () => {
        for (;;) if ((await reader.read()).done) return;
      })(),
    ).rejects.toThrow('the client went away');
    await until(async () => (await readInside(docker, sandbox.id, 'ps -o args | grep -c "^tar -c"; exit 0')) === '0');
    await sandbox.exec(`rm -f ${path}`);
  });

  it('streams a whole 64 MiB archive when it is read', async () => {
    const path = '/tmp/big-read-whole';
    expect((await sandbox.exec(`head -c ${64 * MiB} /dev/zero > ${path}`)).exitCode).toBe(0);
    let total = 0;
    for await (const chunk of (await sandbox.readArchive(path)) as unknown as AsyncIterable<Uint8Array>) total += chunk.length;
    // One header block, the file, padding and the end-of-archive blocks, rounded up to tar's record size.
    expect(total).toBeGreaterThan(64 * MiB);
    expect(total).toBeLessThan(64 * MiB + 20 * 1024);
    await sandbox.exec(`rm -f ${path}`);
  });
});
