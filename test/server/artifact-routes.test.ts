/**
 * GET /runs/{agentId}/artifacts/{path} on the real server over the fakes and a real artifact
 * store: the same tokens as /graphql (the read token may download), the download headers, 404
 * for anything not stored, and a URL that is only ever a lookup key.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { artifactUrl } from '../../src/api/artifacts.js';
import { contentDisposition } from '../../src/server/artifact-routes.js';
import { openDatabase, type SqliteDatabase } from '../../src/store/database.js';
import { SqliteArtifactStore } from '../../src/store/sqlite-artifact-store.js';
import { createFakeServices } from '../helpers/fake-services.js';
import { API_TOKEN, READ_TOKEN, bearer, rawRequest, startHardenedServer, type HardenedServer } from '../hardening/hardened-server.js';

const RUN = 'run-1';
const PATCH = 'diff --git a/x b/x\n+fixed\n';
const ODD_NAME = '/workspace/out/a "quoted" name\nwith newline ü.txt';

let dir: string;
let db: SqliteDatabase;
let store: SqliteArtifactStore;
let test: HardenedServer | undefined;

function bytes(text: string): AsyncIterable<Uint8Array> {
  return Readable.from([Buffer.from(text)]);
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bosun-route-'));
  db = openDatabase(':memory:');
  store = new SqliteArtifactStore(db, { dir });
  await store.save(RUN, '/workspace/out/fix.patch', bytes(PATCH), { maxBytes: 1024 });
  await store.save(RUN, ODD_NAME, bytes('odd'), { maxBytes: 1024 });
});
afterEach(async () => {
  await test?.close();
  test = undefined;
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(config: { apiToken?: string; readToken?: string } = {}): Promise<HardenedServer> {
  test = await startHardenedServer(config, { services: { ...createFakeServices(), artifacts: store } });
  return test;
}

describe('artifact downloads', () => {
  it('streams the bytes as an attachment that cannot be rendered as a page', async () => {
    const { origin } = await serve();
    const response = await fetch(`${origin}${artifactUrl(RUN, '/workspace/out/fix.patch')}`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(PATCH);
    expect(Object.fromEntries(response.headers)).toMatchObject({
      'content-type': 'application/octet-stream',
      'content-length': String(Buffer.byteLength(PATCH)),
      'content-disposition': `attachment; filename="fix.patch"; filename*=UTF-8''fix.patch`,
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; sandbox",
      etag: `"${createHash('sha256').update(PATCH).digest('hex')}"`,
    });
  });

  it('serves a path whose name needs escaping, with a header that stays one header', async () => {
    const { origin } = await serve();
    const url = artifactUrl(RUN, ODD_NAME);
    expect(url).toBe('/runs/run-1/artifacts/workspace/out/a%20%22quoted%22%20name%0Awith%20newline%20%C3%BC.txt');
    const response = await fetch(`${origin}${url}`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('odd');
    expect(response.headers.get('content-disposition')).toBe(
      `attachment; filename="a__quoted__name_with_newline__.txt"; filename*=UTF-8''a%20%22quoted%22%20name%0Awith%20newline%20%C3%BC.txt`,
    );
    expect(contentDisposition("it's (a)*!")).toBe(`attachment; filename="it_s__a___"; filename*=UTF-8''it%27s%20%28a%29%2A%21`);
  });

  it('answers 404 for an unknown run or path, and for URLs that try to leave the store', async () => {
    const { origin } = await serve();
    for (const path of [
      '/runs/nope/artifacts/workspace/out/fix.patch',
      '/runs/run-1/artifacts/workspace/out/other',
      '/runs/run-1/artifacts/workspace/out',
      '/runs/run-1/artifacts/',
      '/runs/run-1/artifacts/workspace/out/fix.patch%00',
      '/runs/run-1/artifacts/workspace/out/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/runs/run-1/artifacts/..%2F..%2F..%2Fetc%2Fpasswd',
      '/runs/run-1/artifacts/%zz',
      `/runs/..%2F..%2F${encodeURIComponent(dir)}/artifacts/workspace/out/fix.patch`,
    ]) {
      const response = await rawRequest(`${origin}${path}`);
      expect(response.status, path).toBe(404);
      expect(response.body, path).not.toContain('root:');
    }
    const body = JSON.parse((await rawRequest(`${origin}/runs/nope/artifacts/x`)).body) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]?.extensions.code).toBe('NOT_FOUND');
  });

  it('answers HEAD with the headers only, 304 to a matching If-None-Match, 405 to other methods', async () => {
    const { origin } = await serve();
    const url = `${origin}${artifactUrl(RUN, '/workspace/out/fix.patch')}`;
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(PATCH)));
    expect(await head.text()).toBe('');
    const etag = head.headers.get('etag')!;
    expect((await fetch(url, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const post = await fetch(url, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('needs a token like /graphql when tokens are set; the read token may download', async () => {
    const { origin } = await serve({ apiToken: API_TOKEN, readToken: READ_TOKEN });
    const url = `${origin}${artifactUrl(RUN, '/workspace/out/fix.patch')}`;
    for (const headers of [{}, bearer('wrong-token-0123456789abcdef'), { authorization: API_TOKEN }]) {
      const response = await fetch(url, { headers });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="bosun"');
      expect(await response.text()).not.toContain(PATCH);
    }
    // Unknown artifacts are not told apart from known ones without a token.
    expect((await fetch(`${origin}/runs/nope/artifacts/x`)).status).toBe(401);
    for (const token of [API_TOKEN, READ_TOKEN]) {
      const response = await fetch(url, { headers: bearer(token) });
      expect(response.status).toBe(200);
      expect(await response.text()).toBe(PATCH);
    }
  });

  it('without tokens answers loopback names only, as /graphql does', async () => {
    const { origin } = await serve();
    const url = `${origin}${artifactUrl(RUN, '/workspace/out/fix.patch')}`;
    expect((await rawRequest(url, { headers: { host: 'evil.example' } })).status).toBe(403);
    expect((await rawRequest(url, { headers: { host: 'localhost' } })).status).toBe(200);
  });

  it('is not served when the server has no artifact store', async () => {
    test = await startHardenedServer();
    const response = await fetch(`${test.origin}${artifactUrl(RUN, '/workspace/out/fix.patch')}`);
    expect(response.status).toBe(404);
  });
});
