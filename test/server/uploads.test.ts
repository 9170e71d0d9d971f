/**
 * The HTTP side of external runs over the real server and a scripted external service: request
 * body limits (1 MiB, but for uploadArchive's multipart requests), uploads streamed to a spool
 * file that is gone after the response, the CSRF rule on multipart requests, and the archive
 * route's access, status codes and client aborts.
 */
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExternalRunApi } from '../../src/api/context.js';
import { BosunError } from '../../src/errors.js';
import type { ReopenableBytes, SandboxFileInfo } from '../../src/sandbox/sandbox.js';
import { MAX_REQUEST_BYTES } from '../../src/server/server-limits.js';
import { isUploadOperation } from '../../src/server/multipart-upload.js';
import { createFakeServices } from '../helpers/fake-services.js';
import { eventually } from '../helpers/graphql-clients.js';
import { API_TOKEN, READ_TOKEN, startHardenedServer, type HardenedServer } from '../hardening/hardened-server.js';

const UPLOAD_MAX_BYTES = 256 * 1024;
const ENTRY: SandboxFileInfo = { path: '/workspace/repo', type: 'DIRECTORY', sizeBytes: 0, mode: 0o755 };
const UPLOAD = 'mutation ($archive: File!) { uploadArchive(agentId: "run-1", archive: $archive) { path type size mode } }';

/** What the scripted external service was given, and what it answers. */
interface Scripted {
  readonly uploads: Array<{ readonly id: string; readonly bytes: Buffer; readonly size: number; readonly path: string | null | undefined }>;
  archiveError: BosunError | undefined;
  archiveSignal: AbortSignal | undefined;
  /** Chunks the archive route streams; an endless stream when undefined. */
  archiveChunks: Uint8Array[] | undefined;
}

function scriptedExternal(): { api: ExternalRunApi; scripted: Scripted } {
  const scripted: Scripted = { uploads: [], archiveError: undefined, archiveSignal: undefined, archiveChunks: [Buffer.from('tar bytes')] };
  const refuse = () => Promise.reject(new BosunError('INVALID_STATE', 'not scripted'));
  const api: ExternalRunApi = {
    exec: refuse,
    writeFiles: refuse,
    readFile: refuse,
    listFiles: refuse,
    finish: refuse,
    idleSince: () => null,
    async uploadArchive(id: string, archive: ReopenableBytes, path: string | null | undefined) {
      const chunks: Uint8Array[] = [];
      for await (const chunk of archive.stream() as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
      scripted.uploads.push({ id, bytes: Buffer.concat(chunks), size: archive.size, path });
      return [ENTRY];
    },
    readArchive(_id: string, _path: string, signal?: AbortSignal) {
      scripted.archiveSignal = signal;
      if (scripted.archiveError) return Promise.reject(scripted.archiveError);
      const chunks = scripted.archiveChunks === undefined ? undefined : [...scripted.archiveChunks];
      return Promise.resolve(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (chunks === undefined) return controller.enqueue(new Uint8Array(64 * 1024));
            const next = chunks.shift();
            if (next === undefined) controller.close();
            else controller.enqueue(next);
          },
        }),
      );
    },
  };
  return { api, scripted };
}

let test: HardenedServer | undefined;
afterEach(async () => {
  await test?.close();
  test = undefined;
});

async function start(config: Parameters<typeof startHardenedServer>[0] = {}) {
  const { api, scripted } = scriptedExternal();
  test = await startHardenedServer({ uploadMaxBytes: UPLOAD_MAX_BYTES, ...config }, { services: { ...createFakeServices(), external: api } });
  return scripted;
}

/** A multipart request per the spec; `file` goes in the part named "0", mapped to `variables.archive`. */
function multipart(query: string, file: Uint8Array | undefined, headers: Record<string, string> = { 'x-graphql-csrf': '1' }): RequestInit {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query, variables: { archive: null } }));
  form.append('map', JSON.stringify(file === undefined ? {} : { 0: ['variables.archive'] }));
  if (file !== undefined) form.append('0', new Blob([Buffer.from(file)]), 'repo.tar');
  return { method: 'POST', body: form, headers };
}

const spoolFiles = (): string[] =>
  readdirSync(tmpdir())
    .filter((name) => name.startsWith('bosun-uploads-'))
    .flatMap((dir) => readdirSync(join(tmpdir(), dir)));

describe('uploadArchive over HTTP', () => {
  it('hands the operation the uploaded bytes, and removes the spool file after the response', async () => {
    const scripted = await start();
    const bytes = Buffer.alloc(200 * 1024, 7);
    const before = spoolFiles().length;
    const response = await fetch(test!.url, multipart(UPLOAD, bytes));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { uploadArchive: [{ path: '/workspace/repo', type: 'DIRECTORY', size: 0, mode: 0o755 }] } });
    expect(scripted.uploads).toHaveLength(1);
    expect(scripted.uploads[0]!.size).toBe(bytes.length);
    expect(scripted.uploads[0]!.bytes.equals(bytes)).toBe(true);
    await eventually(() => spoolFiles().length === before, 'the spool file to be removed');
  });

  it('refuses an upload past UPLOAD_MAX_BYTES with 413 while it streams', async () => {
    const scripted = await start();
    const response = await fetch(test!.url, multipart(UPLOAD, new Uint8Array(UPLOAD_MAX_BYTES + 1)));
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ errors: [{ extensions: { code: 'REQUEST_ENTITY_TOO_LARGE' } }] });
    expect(scripted.uploads).toHaveLength(0);
  });

  it('holds every other multipart request to 1 MiB', async () => {
    const scripted = await start({ uploadMaxBytes: 8 * MAX_REQUEST_BYTES });
    const other = 'mutation ($archive: File!) { cancelAgent(id: "x") { id } uploadArchive(agentId: "run-1", archive: $archive) { path } }';
    const response = await fetch(test!.url, multipart(other, new Uint8Array(MAX_REQUEST_BYTES + 1)));
    expect(response.status).toBe(413);
    // The same file is taken by an uploadArchive mutation alone.
    expect((await fetch(test!.url, multipart(UPLOAD, new Uint8Array(MAX_REQUEST_BYTES + 1)))).status).toBe(200);
    expect(scripted.uploads).toHaveLength(1);
  });

  it('keeps the CSRF rule: a multipart request needs x-graphql-csrf', async () => {
    const scripted = await start();
    const response = await fetch(test!.url, multipart(UPLOAD, new Uint8Array(10), {}));
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/cross-site request forgery/);
    expect(scripted.uploads).toHaveLength(0);
  });

  it('needs the API token: a read token may not upload', async () => {
    const scripted = await start({ apiToken: API_TOKEN, readToken: READ_TOKEN });
    const read = await fetch(test!.url, multipart(UPLOAD, new Uint8Array(10), { 'x-graphql-csrf': '1', authorization: `Bearer ${READ_TOKEN}` }));
    expect(read.status).toBe(403);
    expect((await fetch(test!.url, multipart(UPLOAD, new Uint8Array(10)))).status).toBe(401);
    const admin = await fetch(test!.url, multipart(UPLOAD, new Uint8Array(10), { 'x-graphql-csrf': '1', authorization: `Bearer ${API_TOKEN}` }));
    expect(admin.status).toBe(200);
    expect(scripted.uploads).toHaveLength(1);
  });

  it('refuses malformed multipart requests with 400', async () => {
    await start();
    const fileFirst = new FormData();
    fileFirst.append('0', new Blob([new Uint8Array(4)]), 'x.tar');
    fileFirst.append('operations', JSON.stringify({ query: UPLOAD, variables: { archive: null } }));
    const early = await fetch(test!.url, { method: 'POST', body: fileFirst, headers: { 'x-graphql-csrf': '1' } });
    expect(early.status).toBe(400);
    expect(await early.text()).toMatch(/must come before the files/);
    const noFile = await fetch(test!.url, multipart(UPLOAD, undefined));
    expect(await noFile.json()).toMatchObject({
      errors: [{ message: expect.stringMatching(/File: expected an upload|must not be null/) as string }],
    });
  });
});

describe('isUploadOperation', () => {
  it.each([
    [{ query: UPLOAD }, true],
    [{ query: 'mutation A { uploadArchive(agentId: "1", archive: null) { path } } query B { queueStatus { queued } }', operationName: 'A' }, true],
    [{ query: 'mutation { a: uploadArchive(agentId: "1", archive: null) { path } b: uploadArchive(agentId: "2", archive: null) { path } }' }, true],
    [{ query: '{ queueStatus { queued } }' }, false],
    [{ query: 'mutation { uploadArchive(agentId: "1", archive: null) { path } cancelAgent(id: "1") { id } }' }, false],
    [{ query: 'mutation { ...F } fragment F on Mutation { uploadArchive(agentId: "1", archive: null) { path } }' }, false],
    [{ query: 'not graphql' }, false],
    [[{ query: UPLOAD }], false],
    [null, false],
  ])('%j → %s', (operations, expected) => {
    expect(isUploadOperation(operations)).toBe(expected);
  });
});

describe('GET /runs/{id}/archive', () => {
  const archiveUrl = (id = 'run-1', path: string | null = '/workspace/out') =>
    `${test!.origin}/runs/${encodeURIComponent(id)}/archive${path === null ? '' : `?path=${encodeURIComponent(path)}`}`;

  it('streams the tar, to a read token too, and 401s without a token', async () => {
    await start({ apiToken: API_TOKEN, readToken: READ_TOKEN });
    const response = await fetch(archiveUrl(), { headers: { authorization: `Bearer ${READ_TOKEN}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-tar');
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="out.tar"');
    expect(await response.text()).toBe('tar bytes');
    expect((await fetch(archiveUrl())).status).toBe(401);
  });

  it.each([
    [new BosunError('NOT_FOUND', 'no such run'), 404],
    [new BosunError('INVALID_STATE', 'run is QUEUED at position 2'), 409],
    [new BosunError('BAD_USER_INPUT', 'path: bad'), 400],
    [new BosunError('RATE_LIMITED', 'too many'), 429],
  ])('answers %s with HTTP %i', async (error, status) => {
    const scripted = await start();
    scripted.archiveError = error;
    const response = await fetch(archiveUrl());
    expect(response.status).toBe(status);
    expect(await response.json()).toEqual({ errors: [{ message: error.message, extensions: { code: error.code } }] });
  });

  it('400 without a path, 405 for another method', async () => {
    await start();
    expect((await fetch(archiveUrl('run-1', null))).status).toBe(400);
    expect((await fetch(archiveUrl(), { method: 'POST' })).status).toBe(405);
  });

  it('aborts the read when the client goes away', async () => {
    const scripted = await start();
    scripted.archiveChunks = undefined;
    const client = new AbortController();
    const response = await fetch(archiveUrl(), { signal: client.signal });
    const reader = response.body!.getReader();
    await reader.read();
    client.abort();
    await eventually(() => scripted.archiveSignal?.aborted === true, 'the read to be aborted');
  });
});
