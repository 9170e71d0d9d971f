/**
 * A Sandbox against the whole service on the real engine, through nothing but the client (with a
 * token): exec (output, exit codes, stdin, env, cwd, timeouts), files written and read as text
 * and bytes, a local directory uploaded and downloaded back the same, typed refusals, finish, and
 * artifacts downloaded after the sandbox is gone.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BosunClient, BosunClientError } from '../../src/client/index.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

const TOKEN = 'client-test-token-0123456789';
const GROUP = { id: 'client-e2e', name: 'client e2e' };

let app: TestApp;
let bosun: BosunClient;
let local: string;

beforeAll(async () => {
  app = await startTestApp({ MAX_CONCURRENT_AGENTS: '2', BOSUN_API_TOKEN: TOKEN });
  bosun = new BosunClient({ url: app.url, token: TOKEN });
});

afterAll(async () => {
  await bosun.close();
  expect(await app.close(), 'containers left behind by the app').toBe(0);
});

afterEach(async () => {
  if (local) await rm(local, { recursive: true, force: true });
});

async function localDir(): Promise<string> {
  local = await mkdtemp(join(tmpdir(), 'bosun-client-e2e-'));
  return local;
}

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; field: string | undefined }> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(BosunClientError);
  const { code, field } = error as BosunClientError;
  return { code, field };
}

describe('exec', () => {
  it('answers output and exit codes, takes stdin, env and cwd, and survives a timeout', async () => {
    await using sb = await bosun.sandbox({ group: GROUP, config: { env: { FROM_RUN: 'run' } } });
    const result = await sb.exec('echo out; echo err >&2; exit 3');
    expect(result).toMatchObject({ exitCode: 3, stdout: 'out\n', stderr: 'err\n', truncated: false, timedOut: false });
    expect(result.step).toMatchObject({ index: 1, command: 'echo out; echo err >&2; exit 3', exitCode: 3 });

    const shaped = await sb.exec('pwd; echo "$FROM_RUN $FROM_CALL"; cat', { cwd: '/tmp', env: { FROM_CALL: 'call' }, stdin: 'piped\n' });
    expect(shaped).toMatchObject({ exitCode: 0, stdout: '/tmp\nrun call\npiped\n' });

    const slow = await sb.exec('sleep 30', { timeoutMs: 500 });
    expect(slow.timedOut).toBe(true);
    expect(slow.durationMs).toBeLessThan(30_000);
    // The run goes on after a command's timeout.
    expect((await sb.exec('echo still here')).stdout).toBe('still here\n');
  });
});

describe('files', () => {
  it('writes text and bytes, reads them back, lists them, and refuses paths outside with the field', async () => {
    await using sb = await bosun.sandbox({ group: GROUP });
    const bytes = new Uint8Array([0, 0xff, 0xfe, 10]);
    const written = await sb.writeFiles([
      { path: '/workspace/notes/a.txt', content: 'héllo\n' },
      { path: '/workspace/notes/b.bin', content: bytes, mode: 0o600 },
    ]);
    expect(written).toEqual([
      { path: '/workspace/notes/a.txt', type: 'FILE', size: 7, mode: 0o644 },
      { path: '/workspace/notes/b.bin', type: 'FILE', size: 4, mode: 0o600 },
    ]);
    expect(await sb.readFile('/workspace/notes/a.txt')).toMatchObject({ content: 'héllo\n', size: 7, truncated: false });
    const binary = await sb.readFile('/workspace/notes/b.bin');
    expect(binary.content).toBeNull();
    expect([...binary.bytes]).toEqual([...bytes]);
    expect((await sb.listFiles('/workspace/notes')).map((file) => file.path).sort()).toEqual(['/workspace/notes/a.txt', '/workspace/notes/b.bin']);

    expect(await codeOf(sb.readFile('/etc/passwd'))).toEqual({ code: 'BAD_USER_INPUT', field: 'path' });
    expect(await codeOf(sb.writeFiles([{ path: '/workspace/../etc/x', content: 'x' }]))).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(await codeOf(sb.readFile('/workspace/missing'))).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('uploads a local directory and downloads it back the same', async () => {
    const dir = await localDir();
    const repo = join(dir, 'repo');
    await mkdir(join(repo, 'src/deep'), { recursive: true });
    await writeFile(join(repo, 'test.sh'), '#!/bin/sh\n. ./src/lib.sh\n[ "$(greet)" = hello ] && echo PASS\n', { mode: 0o755 });
    await writeFile(join(repo, 'src/lib.sh'), 'greet() { echo hello; }\n');
    const blob = Buffer.alloc(300_000, 7);
    await writeFile(join(repo, 'src/deep/blob.bin'), blob);
    await symlink('src/lib.sh', join(repo, 'lib-link'));

    await using sb = await bosun.sandbox({ group: GROUP });
    const top = await sb.uploadDirectory(repo, '/workspace/repo');
    expect(top.map((file) => file.path).sort()).toEqual(['/workspace/repo/lib-link', '/workspace/repo/src', '/workspace/repo/test.sh']);
    expect(await sb.exec('./test.sh', { cwd: '/workspace/repo' })).toMatchObject({ exitCode: 0, stdout: 'PASS\n' });
    expect((await sb.exec('sha256sum src/deep/blob.bin', { cwd: '/workspace/repo' })).stdout.split(' ')[0]).toBe(
      createHash('sha256').update(blob).digest('hex'),
    );

    const back = join(dir, 'back');
    const written = await sb.downloadArchive('/workspace/repo', back);
    expect(written).toContain(join(back, 'repo/src/deep/blob.bin'));
    expect(await readFile(join(back, 'repo/test.sh'), 'utf8')).toBe(await readFile(join(repo, 'test.sh'), 'utf8'));
    expect((await stat(join(back, 'repo/test.sh'))).mode & 0o777).toBe(0o755);
    expect((await readFile(join(back, 'repo/src/deep/blob.bin'))).equals(blob)).toBe(true);
    expect(await readlink(join(back, 'repo/lib-link'))).toBe('src/lib.sh');
    expect((await readdir(join(back, 'repo'))).sort()).toEqual(['lib-link', 'src', 'test.sh']);

    expect(await codeOf(sb.downloadArchive('/workspace/nothing', back))).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses to download an archive whose symlink leads out of the local directory, writing nothing', async () => {
    const dir = await localDir();
    await using sb = await bosun.sandbox({ group: GROUP });
    await sb.exec('mkdir -p /workspace/out && echo x > /workspace/out/a && ln -s /etc/passwd /workspace/out/evil');
    const target = join(dir, 'target');
    expect(await codeOf(sb.downloadArchive('/workspace/out', target))).toMatchObject({ code: 'UNSAFE_ARCHIVE' });
    await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('finish and artifacts', () => {
  it('finish(0) is SUCCEEDED, and the artifacts download after the sandbox is gone, checked', async () => {
    const dir = await localDir();
    await using sb = await bosun.sandbox({ group: GROUP, config: { artifacts: ['/workspace/out'] } });
    await sb.exec('mkdir -p /workspace/out/sub && printf "the fix\\n" > /workspace/out/fix.patch && echo log > /workspace/out/sub/log.txt');
    expect(await sb.artifacts()).toEqual([]);
    const run = await sb.finish(0);
    expect(run).toMatchObject({ status: 'SUCCEEDED', exitCode: 0, failureReason: null });

    const artifacts = await sb.artifacts();
    expect(artifacts.map((artifact) => [artifact.path, artifact.size])).toEqual([
      ['/workspace/out/fix.patch', 8],
      ['/workspace/out/sub/log.txt', 4],
    ]);
    const patch = await sb.downloadArtifact(artifacts[0]!, join(dir, 'fix.patch'));
    expect(await readFile(patch, 'utf8')).toBe('the fix\n');
    const byPath = await sb.downloadArtifact('/workspace/out/sub/log.txt', join(dir, 'nested/log.txt'));
    expect(await readFile(byPath, 'utf8')).toBe('log\n');
    expect(await codeOf(sb.downloadArtifact('/workspace/out/none', join(dir, 'none')))).toMatchObject({ code: 'NOT_FOUND' });
    // A wrong digest is caught and the file removed.
    const forged = { ...artifacts[0]!, sha256: '0'.repeat(64) };
    expect(await codeOf(sb.downloadArtifact(forged, join(dir, 'forged.patch')))).toMatchObject({ code: 'INTEGRITY_ERROR' });
    await expect(stat(join(dir, 'forged.patch'))).rejects.toMatchObject({ code: 'ENOENT' });

    expect(await codeOf(sb.finish(0))).toMatchObject({ code: 'INVALID_STATE' });
  });
});
