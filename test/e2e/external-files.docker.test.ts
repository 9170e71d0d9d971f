/**
 * External runs' files end to end on the real engine (tmpfs mounts under a read-only root,
 * where the engine's archive API does not write): writeFiles / readFile / listFiles, uploads of
 * tar and tar.gz over multipart requests (escaping archives refused whole, oversized ones 413),
 * downloads over GET /runs/{id}/archive, and every bad path refused naming its field.
 */
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { LIST_FILES, READ_FILE, WRITE_FILES } from '../../src/client/operations.js';
import { gql } from '../helpers/e2e.js';
import { FINISH, call, exec, firstError, startExternal, uploadArchive, type SandboxFileReply } from '../helpers/external-e2e.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';
import { tarListing, tarOf } from '../helpers/tar-archives.js';

let app: TestApp | undefined;

afterEach(async () => {
  if (app) expect(await app.close(), 'containers left behind by the app').toBe(0);
  app = undefined;
});

const MiB = 1024 * 1024;

/** The entries of a tar stream: name → content (files) or type. */
async function readTar(body: ReadableStream<Uint8Array>): Promise<Map<string, string>> {
  const listing = await tarListing(body);
  return new Map(listing.map(([type, name, , content]) => [name.replace(/\/$/, ''), type === 'file' ? content : type]));
}

describe('writeFiles, readFile, listFiles', () => {
  it('writes text and bytes owned by the run user, reads them back, and lists them', async () => {
    app = await startTestApp();
    const { url } = app;
    const id = await startExternal(url);
    const { writeFiles } = await gql<{ writeFiles: SandboxFileReply[] }>(url, WRITE_FILES, {
      id,
      files: [
        { path: '/workspace/src/deep/a.txt', content: 'héllo\n' },
        { path: '/tmp/bin.dat', contentBase64: Buffer.from([0, 0xff, 0xfe]).toString('base64'), mode: 0o755 },
      ],
    });
    expect(writeFiles).toEqual([
      { path: '/workspace/src/deep/a.txt', type: 'FILE', size: 7, mode: 0o644 },
      { path: '/tmp/bin.dat', type: 'FILE', size: 3, mode: 0o755 },
    ]);
    expect((await exec(url, id, 'stat -c "%u %a" /workspace/src/deep/a.txt /workspace/src /tmp/bin.dat')).stdout).toBe(
      '1000 644\n1000 755\n1000 755\n',
    );
    const text = await gql<{ readFile: Record<string, unknown> }>(url, READ_FILE, { id, path: '/workspace/src/deep/a.txt' });
    expect(text.readFile).toEqual({
      path: '/workspace/src/deep/a.txt',
      size: 7,
      content: 'héllo\n',
      contentBase64: Buffer.from('héllo\n').toString('base64'),
      truncated: false,
    });
    const binary = await gql<{ readFile: Record<string, unknown> }>(url, READ_FILE, { id, path: '/tmp/bin.dat' });
    expect(binary.readFile).toMatchObject({ content: null, contentBase64: 'AP/+', truncated: false });
    const { listFiles } = await gql<{ listFiles: SandboxFileReply[] }>(url, LIST_FILES, { id, path: '/workspace/src' });
    expect(listFiles).toEqual([expect.objectContaining({ path: '/workspace/src/deep', type: 'DIRECTORY' })]);
    expect(firstError((await call(url, READ_FILE, { id, path: '/workspace/missing' })).errors)).toMatchObject({ code: 'NOT_FOUND' });
    expect(firstError((await call(url, READ_FILE, { id, path: '/workspace/src' })).errors)).toMatchObject({ code: 'NOT_FOUND' });
    await gql(url, FINISH, { id, exitCode: 0 });
  });

  it('reads at most 10 MiB of a file, saying it is truncated', async () => {
    app = await startTestApp({ SANDBOX_WORKSPACE_SIZE: '64m' });
    const { url } = app;
    const id = await startExternal(url);
    await exec(url, id, "head -c 11534336 /dev/zero | tr '\\0' z > /workspace/big");
    const { readFile } = await gql<{ readFile: { size: number; content: string; contentBase64: string; truncated: boolean } }>(url, READ_FILE, {
      id,
      path: '/workspace/big',
    });
    expect(readFile.size).toBe(11 * MiB);
    expect(readFile.truncated).toBe(true);
    expect(readFile.content.length).toBe(10 * MiB);
    expect(Buffer.from(readFile.contentBase64, 'base64').length).toBe(10 * MiB);
    await gql(url, FINISH, { id, exitCode: 0 });
  });

  it('refuses traversal, outside, relative and NUL paths naming the field, and writes nothing', async () => {
    app = await startTestApp();
    const { url } = app;
    const id = await startExternal(url);
    const cases: Array<[string, Record<string, unknown>, string]> = [
      [
        WRITE_FILES,
        {
          id,
          files: [
            { path: '/workspace/ok', content: '' },
            { path: '/workspace/../etc/x', content: 'x' },
          ],
        },
        'files[1].path',
      ],
      [WRITE_FILES, { id, files: [{ path: '/etc/passwd', content: 'x' }] }, 'files[0].path'],
      [WRITE_FILES, { id, files: [{ path: 'workspace/x', content: 'x' }] }, 'files[0].path'],
      [WRITE_FILES, { id, files: [{ path: '/workspace/a\u0000b', content: 'x' }] }, 'files[0].path'],
      [WRITE_FILES, { id, files: [{ path: '/workspace/a', content: 'x', contentBase64: 'eA==' }] }, 'files[0]'],
      [WRITE_FILES, { id, files: [{ path: '/workspace/a', contentBase64: 'not base64!' }] }, 'files[0].contentBase64'],
      [READ_FILE, { id, path: '/workspace/../../proc/self/environ' }, 'path'],
      [READ_FILE, { id, path: '/tmp/x\u0000' }, 'path'],
      [LIST_FILES, { id, path: '/' }, 'path'],
      [LIST_FILES, { id, path: '/workspace/' }, 'path'],
    ];
    for (const [query, variables, field] of cases) {
      expect(firstError((await call(url, query, variables)).errors), JSON.stringify(variables)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    expect((await exec(url, id, 'ls -A /workspace')).stdout).toBe('');
    await gql(url, FINISH, { id, exitCode: 0 });
  });

  it('refuses a writeFiles request over the 1 MiB body limit (413)', async () => {
    app = await startTestApp();
    const { url } = app;
    const id = await startExternal(url);
    const { status } = await call(url, WRITE_FILES, { id, files: [{ path: '/workspace/big', content: 'x'.repeat(MiB + 1) }] });
    expect(status).toBe(413);
    await gql(url, FINISH, { id, exitCode: 0 });
  });
});

describe('a file call the sandbox refuses', () => {
  it("answers FILE_ERROR with the sandbox's words (a full /workspace, a directory in the way), and the run goes on", async () => {
    app = await startTestApp({ SANDBOX_WORKSPACE_SIZE: '8m' });
    const { url } = app;
    const id = await startExternal(url);
    // Fill the 8 MiB tmpfs for real: head stops at ENOSPC (busybox calls it an I/O error).
    const fill = await exec(url, id, 'head -c 16777216 /dev/zero > /workspace/fill; echo "$?"; df -k /workspace | tail -n 1');
    const [status, usage] = fill.stdout.trim().split('\n');
    expect(status).not.toBe('0');
    // Filesystem, 1K-blocks, Used, Available: nothing available.
    expect(usage!.trim().split(/\s+/)[3]).toBe('0');

    const full = await call(url, WRITE_FILES, { id, files: [{ path: '/workspace/more.txt', content: 'x'.repeat(64 * 1024) }] });
    expect(full.data).toBeNull();
    expect(firstError(full.errors)).toEqual({
      code: 'FILE_ERROR',
      message: expect.stringMatching(/^could not write \/workspace\/more\.txt in bosun-\S+: tar: write error: No space left on device$/) as string,
    });

    await exec(url, id, 'rm /workspace/fill && mkdir -p /workspace/taken/inner');
    const taken = await call(url, WRITE_FILES, { id, files: [{ path: '/workspace/taken', content: 'x' }] });
    expect(firstError(taken.errors)).toMatchObject({
      code: 'FILE_ERROR',
      message: expect.stringMatching(/^could not write \/workspace\/taken in bosun-\S+: tar: .*Is a directory$/) as string,
    });

    // bosun and the run go on: the same call succeeds once there is room.
    const { agentRun } = await gql<{ agentRun: { status: string } }>(url, 'query ($id: ID!) { agentRun(id: $id) { status } }', { id });
    expect(agentRun.status).toBe('RUNNING');
    const { writeFiles } = await gql<{ writeFiles: SandboxFileReply[] }>(url, WRITE_FILES, {
      id,
      files: [{ path: '/workspace/more.txt', content: 'x'.repeat(64 * 1024) }],
    });
    expect(writeFiles).toEqual([{ path: '/workspace/more.txt', type: 'FILE', size: 64 * 1024, mode: 0o644 }]);
    expect(await gql(url, FINISH, { id, exitCode: 0 })).toMatchObject({ finishAgent: { status: 'SUCCEEDED' } });
  });
});

describe('artifacts of an external run', () => {
  it('keeps the files the agent wrote at an artifact path when it finishes', async () => {
    app = await startTestApp();
    const { url, origin } = app;
    const id = await startExternal(url, { artifacts: ['/workspace/out'] });
    await gql(url, WRITE_FILES, { id, files: [{ path: '/workspace/out/fix.patch', content: '+ fixed\n' }] });
    const { finishAgent } = await gql<{ finishAgent: { status: string; artifacts: { path: string; size: number; url: string }[] } }>(
      url,
      'mutation ($id: ID!) { finishAgent(agentId: $id, exitCode: 0) { status artifacts { path size url } } }',
      { id },
    );
    expect(finishAgent.status).toBe('SUCCEEDED');
    expect(finishAgent.artifacts).toEqual([expect.objectContaining({ path: '/workspace/out/fix.patch', size: 8 })]);
    expect(await (await fetch(new URL(finishAgent.artifacts[0]!.url, origin))).text()).toBe('+ fixed\n');
  });
});

describe('uploadArchive', () => {
  it('extracts a tar.gz with directories, modes and an inner link, answering its top-level entries', async () => {
    app = await startTestApp();
    const { url } = app;
    const id = await startExternal(url);
    const archive = gzipSync(
      await tarOf([
        { name: 'repo', type: 'directory' },
        { name: 'repo/test.sh', content: '#!/bin/sh\ntest "$(cat answer)" = 42\n', mode: 0o755 },
        { name: 'repo/answer', content: '41\n' },
        { name: 'repo/latest', type: 'symlink', linkname: 'answer' },
        { name: 'README', content: 'hi' },
      ]),
    );
    const { status, data } = await uploadArchive(url, id, archive, '/workspace/up');
    expect(status).toBe(200);
    expect(data!.uploadArchive.map((entry) => [entry.path, entry.type]).sort()).toEqual([
      ['/workspace/up/README', 'FILE'],
      ['/workspace/up/repo', 'DIRECTORY'],
    ]);
    expect(await exec(url, id, './test.sh', { cwd: '/workspace/up/repo' })).toMatchObject({ exitCode: 1 });
    expect((await exec(url, id, 'cat latest; stat -c "%u %a" test.sh', { cwd: '/workspace/up/repo' })).stdout).toBe('41\n1000 755\n');
    await gql(url, FINISH, { id, exitCode: 0 });
  });

  it.each([
    [
      'a ../ entry',
      [
        { name: 'ok', content: 'fine' },
        { name: '../escaped', content: 'x' },
      ],
    ],
    [
      'an absolute entry',
      [
        { name: 'ok', content: 'fine' },
        { name: '/workspace/abs', content: 'x' },
      ],
    ],
    [
      'a symlink pointing out',
      [
        { name: 'ok', content: 'fine' },
        { name: 'out', type: 'symlink', linkname: '../../etc' },
        { name: 'out/passwd', content: 'x' },
      ],
    ],
  ] as const)('refuses %s whole, extracting nothing', async (_what, entries) => {
    app = await startTestApp();
    const { url } = app;
    const id = await startExternal(url);
    const { errors } = await uploadArchive(url, id, await tarOf(entries), '/workspace/dest');
    expect(firstError(errors)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'archive' });
    expect((await exec(url, id, 'ls -A /workspace /workspace/dest 2>&1; ls /tmp')).stdout).not.toMatch(/ok|escaped|abs|out/);
    await gql(url, FINISH, { id, exitCode: 0 });
  });

  it('refuses an upload past UPLOAD_MAX_BYTES with 413, and a bad target path', async () => {
    app = await startTestApp({ UPLOAD_MAX_BYTES: '6m' });
    const { url } = app;
    const id = await startExternal(url);
    const tooBig = await uploadArchive(url, id, new Uint8Array(6 * MiB + 1));
    expect(tooBig.status).toBe(413);
    const small = await tarOf([{ name: 'x', content: 'x' }]);
    expect(firstError((await uploadArchive(url, id, small, '/workspace/../etc')).errors)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'path' });
    expect((await uploadArchive(url, id, small)).data!.uploadArchive).toEqual([expect.objectContaining({ path: '/workspace/x', type: 'FILE' })]);
    await gql(url, FINISH, { id, exitCode: 0 });
  });
});

describe('GET /runs/{id}/archive', () => {
  it('streams a directory as tar; 400 for a bad path, 404 for a missing one or run, 409 once the run is over', async () => {
    app = await startTestApp();
    const { url, origin } = app;
    const id = await startExternal(url);
    await exec(url, id, 'mkdir -p /workspace/out/sub && echo patch > /workspace/out/fix.patch && echo deep > /workspace/out/sub/d');
    const archiveUrl = (run: string, path: string) => `${origin}/runs/${run}/archive?path=${encodeURIComponent(path)}`;
    const response = await fetch(archiveUrl(id, '/workspace/out'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-tar');
    const entries = await readTar(response.body!);
    expect(entries.get('out/fix.patch')).toBe('patch\n');
    expect(entries.get('out/sub/d')).toBe('deep\n');
    expect((await fetch(archiveUrl(id, '/workspace/../etc'))).status).toBe(400);
    expect((await fetch(archiveUrl(id, '/workspace/nothing'))).status).toBe(404);
    expect((await fetch(archiveUrl('no-such-run', '/workspace'))).status).toBe(404);
    await gql(url, FINISH, { id, exitCode: 0 });
    expect((await fetch(archiveUrl(id, '/workspace/out'))).status).toBe(409);
  });
});
