/**
 * Files in a real sandbox (issue 15): writeFiles, readFile and listFiles go through commands'
 * stdin/stdout, since `/workspace` and `/tmp` are tmpfs under a read-only root, where the
 * engine's archive API does not reach. Checked from inside the container with its own tools.
 */
import { createHash, randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DockerSandbox } from '../../src/sandbox/docker-sandbox.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { TEST_IMAGE, createTestDocker, readInside, removeLeftovers, sandboxErrorOf, testInstanceId } from '../helpers/docker.js';

const MiB = 1024 ** 2;
const instanceId = testInstanceId();
let docker: Docker;
let manager: SandboxManager;
let sandbox: DockerSandbox;
let dirSeq = 0;

/** A fresh directory name per test, so that the tests share one sandbox without meeting. */
function dir(): string {
  dirSeq += 1;
  return `/workspace/t${dirSeq}`;
}

async function run(command: string): Promise<{ exitCode: number; stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const { exitCode } = await sandbox.exec(command, { onOutput: (stream, line) => (stream === 'stdout' ? stdout : stderr).push(line) });
  return { exitCode, stdout, stderr };
}

beforeAll(async () => {
  docker = createTestDocker();
  manager = new SandboxManager(docker, instanceId);
  sandbox = await manager.create({ runId: `${instanceId}-files`, image: TEST_IMAGE, limits: { cpus: 1, memoryBytes: 512 * MiB, pidsLimit: 200 } });
});

afterAll(async () => {
  await manager?.disposeAll();
  expect(await removeLeftovers(docker, instanceId)).toBe(0);
});

describe('writeFiles', () => {
  it('writes bytes exactly (NUL, invalid UTF-8, every byte value), with modes, parents and the sandbox user as owner', async () => {
    const base = dir();
    const everyByte = Buffer.from(Array.from({ length: 256 }, (_v, i) => i));
    const invalidUtf8 = Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x0a, 0x00]);
    const infos = await sandbox.writeFiles([
      { path: `${base}/deep/er/every-byte.bin`, content: everyByte, mode: 0o600 },
      { path: `${base}/invalid.bin`, content: invalidUtf8 },
      { path: `${base}/empty`, content: new Uint8Array(0), mode: 0o640 },
    ]);
    expect(infos).toEqual([
      { path: `${base}/deep/er/every-byte.bin`, type: 'FILE', sizeBytes: 256, mode: 0o600 },
      { path: `${base}/invalid.bin`, type: 'FILE', sizeBytes: 7, mode: 0o644 },
      { path: `${base}/empty`, type: 'FILE', sizeBytes: 0, mode: 0o640 },
    ]);
    // Seen from inside with the sandbox's own tools: owner, mode and the bytes' digest.
    expect(await readInside(docker, sandbox.id, `cd ${base} && stat -c '%u:%g %a %n' deep deep/er deep/er/every-byte.bin invalid.bin`)).toBe(
      ['1000:1000 755 deep', '1000:1000 755 deep/er', '1000:1000 600 deep/er/every-byte.bin', '1000:1000 644 invalid.bin'].join('\n'),
    );
    expect(await readInside(docker, sandbox.id, `sha256sum ${base}/deep/er/every-byte.bin ${base}/invalid.bin | cut -d' ' -f1`)).toBe(
      [createHash('sha256').update(everyByte).digest('hex'), createHash('sha256').update(invalidUtf8).digest('hex')].join('\n'),
    );
    const back = await sandbox.readFile(`${base}/invalid.bin`, { maxBytes: 1024 });
    expect(Buffer.from(back.content).equals(invalidUtf8)).toBe(true);
  });

  it('round-trips 5 MiB of random bytes', async () => {
    const path = `${dir()}/random.bin`;
    const content = randomBytes(5 * MiB);
    await sandbox.writeFiles([{ path, content }]);
    const back = await sandbox.readFile(path, { maxBytes: 10 * MiB });
    expect(back.truncated).toBe(false);
    expect(back.sizeBytes).toBe(content.length);
    expect(Buffer.from(back.content).equals(content)).toBe(true);
  });

  it('writes a script to /workspace that is executable and runs', async () => {
    const path = `${dir()}/bin/hello.sh`;
    await sandbox.writeFiles([{ path, content: Buffer.from('#!/bin/sh\necho "hello $1 from $(id -u)"\n'), mode: 0o755 }]);
    expect(await run(`${path} world`)).toEqual({ exitCode: 0, stdout: ['hello world from 1000'], stderr: [] });
  });

  it('keeps names with spaces, quotes, newlines and a leading dash as they are', async () => {
    const base = dir();
    const names = ['with space \'and\' "quotes"', 'new\nline', '-dash', '$(touch pwned)'];
    const infos = await sandbox.writeFiles(names.map((name) => ({ path: `${base}/${name}`, content: Buffer.from(name) })));
    expect(infos.map((info) => info.path)).toEqual(names.map((name) => `${base}/${name}`));
    const listed = await sandbox.listFiles(base);
    expect(listed.map((info) => info.path).sort()).toEqual(names.map((name) => `${base}/${name}`).sort());
    expect(listed.every((info) => info.type === 'FILE')).toBe(true);
    for (const name of names) {
      expect(Buffer.from((await sandbox.readFile(`${base}/${name}`, { maxBytes: 100 })).content).toString()).toBe(name);
    }
    // No name ran as a command (the sandbox's working directory is /workspace).
    expect((await run(`[ -e /workspace/pwned ] || [ -e ${base}/pwned ] || echo clean`)).stdout).toEqual(['clean']);
  });

  it('replaces an existing file and a symlink (without writing through it)', async () => {
    const base = dir();
    expect((await run(`mkdir -p ${base} && echo old > ${base}/file && ln -s /tmp/target-${dirSeq} ${base}/link`)).exitCode).toBe(0);
    const infos = await sandbox.writeFiles([
      { path: `${base}/file`, content: Buffer.from('new') },
      { path: `${base}/link`, content: Buffer.from('instead of the link') },
    ]);
    expect(infos.map((info) => [info.type, info.sizeBytes])).toEqual([
      ['FILE', 3],
      ['FILE', 19],
    ]);
    expect((await run(`cat ${base}/file; echo; test -e /tmp/target-${dirSeq} || echo no-target`)).stdout).toEqual(['new', 'no-target']);
  });

  it('fails with FILE_ERROR where the sandbox cannot write (read-only root, a directory in the way)', async () => {
    const base = dir();
    expect((await run(`mkdir -p ${base}/taken`)).exitCode).toBe(0);
    const readOnly = await sandboxErrorOf(sandbox.writeFiles([{ path: '/etc/bosun-test', content: Buffer.from('x') }]));
    expect(readOnly.code).toBe('FILE_ERROR');
    expect(readOnly.message).toMatch(/Read-only file system/);
    const taken = await sandboxErrorOf(sandbox.writeFiles([{ path: `${base}/taken`, content: Buffer.from('x') }]));
    expect(taken.code).toBe('FILE_ERROR');
  });
});

describe('readFile', () => {
  it('cuts at maxBytes and says so, with the whole size', async () => {
    const path = `${dir()}/thousand`;
    const content = Buffer.alloc(1000, 'a');
    await sandbox.writeFiles([{ path, content }]);
    const cut = await sandbox.readFile(path, { maxBytes: 100 });
    expect([cut.sizeBytes, cut.content.length, cut.truncated]).toEqual([1000, 100, true]);
    const exact = await sandbox.readFile(path, { maxBytes: 1000 });
    expect([exact.sizeBytes, exact.content.length, exact.truncated]).toEqual([1000, 1000, false]);
    const none = await sandbox.readFile(path, { maxBytes: 0 });
    expect([none.sizeBytes, none.content.length, none.truncated]).toEqual([1000, 0, true]);
  });

  it('follows a symlink to a file', async () => {
    const base = dir();
    await sandbox.writeFiles([{ path: `${base}/real`, content: Buffer.from('through the link') }]);
    expect((await run(`ln -s real ${base}/link`)).exitCode).toBe(0);
    const read = await sandbox.readFile(`${base}/link`, { maxBytes: 100 });
    expect(Buffer.from(read.content).toString()).toBe('through the link');
  });

  it('answers FILE_NOT_FOUND for a missing path, a directory and a FIFO, and FILE_ERROR for an unreadable file', async () => {
    const base = dir();
    expect((await run(`mkdir -p ${base}/sub && mkfifo ${base}/fifo && echo secret > ${base}/locked && chmod 000 ${base}/locked`)).exitCode).toBe(0);
    for (const [path, message] of [
      [`${base}/missing`, /does not exist/],
      [`${base}/sub`, /is a directory/],
      [`${base}/fifo`, /not a regular file/],
    ] as const) {
      const error = await sandboxErrorOf(sandbox.readFile(path, { maxBytes: 10 }));
      expect(error.code).toBe('FILE_NOT_FOUND');
      expect(error.message).toMatch(message);
    }
    expect((await sandboxErrorOf(sandbox.readFile(`${base}/locked`, { maxBytes: 10 }))).code).toBe('FILE_ERROR');
  });
});

describe('listFiles', () => {
  it('lists one level with types, sizes and modes, sorted', async () => {
    const base = dir();
    expect(
      (
        await run(
          `mkdir -p ${base}/sub/inner && printf 12345 > ${base}/file && chmod 640 ${base}/file && ln -s file ${base}/link && mkfifo ${base}/fifo && chmod 1777 ${base}/sub`,
        )
      ).exitCode,
    ).toBe(0);
    expect(await sandbox.listFiles(base)).toEqual([
      { path: `${base}/fifo`, type: 'OTHER', sizeBytes: 0, mode: 0o644 },
      { path: `${base}/file`, type: 'FILE', sizeBytes: 5, mode: 0o640 },
      { path: `${base}/link`, type: 'SYMLINK', sizeBytes: 4, mode: 0o777 },
      { path: `${base}/sub`, type: 'DIRECTORY', sizeBytes: expect.any(Number) as number, mode: 0o1777 },
    ]);
    expect(await sandbox.listFiles(`${base}/file`)).toEqual([{ path: `${base}/file`, type: 'FILE', sizeBytes: 5, mode: 0o640 }]);
    expect(await sandbox.listFiles(`${base}/sub/inner`)).toEqual([]);
  });

  it('answers FILE_NOT_FOUND for a missing path', async () => {
    expect((await sandboxErrorOf(sandbox.listFiles(`${dir()}/missing`))).code).toBe('FILE_NOT_FOUND');
  });

  it('lists a directory of 2,000 entries', async () => {
    const base = dir();
    expect((await run(`mkdir -p ${base} && cd ${base} && for i in $(seq 1 2000); do : > "f $i"; done`)).exitCode).toBe(0);
    const listed = await sandbox.listFiles(base);
    expect(listed).toHaveLength(2000);
    expect(new Set(listed.map((info) => info.path)).size).toBe(2000);
  });
});
