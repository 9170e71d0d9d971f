/**
 * Artifacts end to end with the real engine, on a file database: a shell run writes a patch and
 * a directory tree, and when it ends — succeeded, failed, timed out or cancelled — the files are
 * listed with their sha256, download over HTTP byte for byte, and still do after the container
 * is gone and after a restart of bosun on the same database. And a full disk under the artifacts
 * (a small tmpfs, where mounting is allowed) is a line in the run, not a crash.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containersOf, createTestDocker } from '../helpers/docker.js';
import { gql, startRun, waitForFinal, waitForRun } from '../helpers/e2e.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

interface ArtifactView {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly url: string;
}
interface RunView {
  readonly status: string;
  readonly failureReason: string | null;
  readonly artifacts: ArtifactView[];
  readonly logs: { stream: string; line: string }[];
}

const SELECTION = 'failureReason artifacts { path size sha256 url } logs { stream line }';
const PATCH = 'diff --git a/app.py b/app.py\n+    return 42\n';
const NUMBERS = Array.from({ length: 20_000 }, (_, i) => `${i + 1}\n`).join('');
const sha256 = (content: string | Buffer) => createHash('sha256').update(content).digest('hex');

let docker: Docker;
let dir: string;
let dbPath: string;
let app: TestApp;

beforeAll(async () => {
  docker = createTestDocker();
  dir = mkdtempSync(join(tmpdir(), 'bosun-artifacts-e2e-'));
  dbPath = join(dir, 'data', 'bosun.db');
  app = await startTestApp({ BOSUN_DB_PATH: dbPath, MAX_CONCURRENT_AGENTS: '3' });
});

afterAll(async () => {
  expect(await app.close(), 'containers left behind by the app').toBe(0);
  rmSync(dir, { recursive: true, force: true });
});

async function download(origin: string, url: string): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const response = await fetch(`${origin}${url}`);
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()), headers: response.headers };
}

const WRITE_TREE = [
  'mkdir -p /workspace/out/sub/deep',
  `printf '${PATCH.replace(/\n/g, '\\n')}' > /workspace/out/fix.patch`,
  'seq 1 20000 > /workspace/out/sub/deep/numbers.txt',
  'ln -s /etc/passwd /workspace/out/passwd-link',
  "printf 'top' > /tmp/top.txt",
].join(' && ');

describe('artifacts', () => {
  let succeeded: string;

  it('keeps the files of a successful run, with their full paths, sizes and sha256, and serves them', async () => {
    const { agentId } = await startRun(app.url, {
      steps: [WRITE_TREE],
      artifacts: ['/workspace/out', '/tmp/top.txt', '/tmp/missing'],
    });
    succeeded = agentId;
    const run = await waitForFinal<RunView>(app.url, agentId, 60_000, SELECTION);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.artifacts).toEqual([
      {
        path: '/tmp/top.txt',
        size: 3,
        sha256: sha256('top'),
        url: `/runs/${agentId}/artifacts/tmp/top.txt`,
      },
      {
        path: '/workspace/out/fix.patch',
        size: Buffer.byteLength(PATCH),
        sha256: sha256(PATCH),
        url: `/runs/${agentId}/artifacts/workspace/out/fix.patch`,
      },
      {
        path: '/workspace/out/sub/deep/numbers.txt',
        size: Buffer.byteLength(NUMBERS),
        sha256: sha256(NUMBERS),
        url: `/runs/${agentId}/artifacts/workspace/out/sub/deep/numbers.txt`,
      },
    ]);
    const system = run.logs.filter((line) => line.stream === 'SYSTEM').map((line) => line.line);
    expect(system).toContain('artifacts: /tmp/missing does not exist in the sandbox; nothing kept for it');
    expect(system).toContain(
      `artifacts: kept 2 file(s) (${Buffer.byteLength(PATCH) + Buffer.byteLength(NUMBERS)} bytes) from /workspace/out; skipped 1 entry (symlink: 1): only regular files inside the path are kept`,
    );

    // The container is gone; the bytes are served from the store.
    expect(await containersOf(docker, app.app.instanceId, agentId)).toEqual([]);
    for (const artifact of run.artifacts) {
      const { status, body, headers } = await download(app.origin, artifact.url);
      expect(status, artifact.path).toBe(200);
      expect(sha256(body), artifact.path).toBe(artifact.sha256);
      expect(headers.get('content-type')).toBe('application/octet-stream');
    }
    expect((await download(app.origin, `/runs/${agentId}/artifacts/workspace/out/passwd-link`)).status).toBe(404);

    // Beside the database, owner-only.
    const stored = join(dir, 'data', 'artifacts', agentId, sha256(PATCH));
    expect(statSync(stored).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'data', 'artifacts', agentId)).mode & 0o777).toBe(0o700);
  });

  it('keeps the artifacts of failed, timed-out and cancelled runs too', async () => {
    const write = (text: string) => `mkdir -p /workspace/out && printf '${text}' > /workspace/out/fix.patch`;
    const failed = await startRun(app.url, { steps: [write('failed'), 'exit 3'], artifacts: ['/workspace/out'] });
    const timedOut = await startRun(app.url, { steps: [`${write('timed out')} && sleep 600`], timeoutMs: 5_000, artifacts: ['/workspace/out'] });
    const cancelled = await startRun(app.url, { steps: [`${write('cancelled')} && echo ready && sleep 600`], artifacts: ['/workspace/out'] });

    await waitForRun<{ status: string; logs: { line: string }[] }>(
      app.url,
      cancelled.agentId,
      (run) => run.logs.some((line) => line.line === 'ready'),
      'the run to be cancelled has written its file',
      60_000,
      'logs { line }',
    );
    const { cancelAgent } = await gql<{ cancelAgent: { status: string; artifacts: ArtifactView[] } }>(
      app.url,
      'mutation ($id: ID!) { cancelAgent(id: $id) { status artifacts { path size sha256 url } } }',
      { id: cancelled.agentId },
    );
    // The mutation answers once the run is over: its artifacts are there already.
    expect(cancelAgent.status).toBe('CANCELLED');
    expect(cancelAgent.artifacts.map((a) => [a.path, a.sha256])).toEqual([['/workspace/out/fix.patch', sha256('cancelled')]]);

    const expectations = [
      [failed.agentId, 'FAILED', 'NON_ZERO_EXIT', 'failed'],
      [timedOut.agentId, 'TIMED_OUT', 'RUN_TIMEOUT', 'timed out'],
    ] as const;
    for (const [agentId, status, reason, content] of expectations) {
      const run = await waitForFinal<RunView>(app.url, agentId, 60_000, SELECTION);
      expect(run).toMatchObject({ status, failureReason: reason });
      expect(run.artifacts.map((a) => [a.path, a.size, a.sha256])).toEqual([['/workspace/out/fix.patch', content.length, sha256(content)]]);
      const { status: httpStatus, body } = await download(app.origin, run.artifacts[0]!.url);
      expect(httpStatus).toBe(200);
      expect(body.toString()).toBe(content);
    }
  });

  it('still lists and serves them after a restart on the same database', async () => {
    expect(await app.close()).toBe(0);
    app = await startTestApp({ BOSUN_DB_PATH: dbPath });
    const { agentRun } = await gql<{ agentRun: { artifacts: ArtifactView[] } }>(
      app.url,
      'query ($id: ID!) { agentRun(id: $id) { artifacts { path size sha256 url } } }',
      { id: succeeded },
    );
    expect(agentRun.artifacts.map((a) => a.path)).toEqual(['/tmp/top.txt', '/workspace/out/fix.patch', '/workspace/out/sub/deep/numbers.txt']);
    for (const artifact of agentRun.artifacts) {
      const { status, body } = await download(app.origin, artifact.url);
      expect(status).toBe(200);
      expect(sha256(body)).toBe(artifact.sha256);
    }
  });
});

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('a full disk under the artifacts', () => {
  let mountPoint = '';
  let small: TestApp | undefined;

  beforeAll(() => {
    mountPoint = mkdtempSync(join(tmpdir(), 'bosun-artifacts-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', mountPoint]);
  });

  afterAll(async () => {
    if (small) expect(await small.close()).toBe(0);
    execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('is a SYSTEM line in the run, which still succeeds; nothing half-written stays, and bosun goes on', async () => {
    small = await startTestApp({ BOSUN_DB_PATH: join(mountPoint, 'bosun.db') });
    const { agentId } = await startRun(small.url, {
      steps: [
        "mkdir -p /workspace/small /workspace/big && printf 'small' > /workspace/small/a.txt && head -c 25165824 /dev/zero > /workspace/big/b.bin",
      ],
      artifacts: ['/workspace/small', '/workspace/big'],
    });
    const run = await waitForFinal<RunView>(small.url, agentId, 60_000, SELECTION);
    expect(run.status).toBe('SUCCEEDED');
    expect(run.artifacts.map((a) => a.path)).toEqual(['/workspace/small/a.txt']);
    expect(run.logs.map((line) => line.line)).toContainEqual(
      expect.stringMatching(
        /^artifacts: could not store \/workspace\/big\/b\.bin \(ENOSPC: no space left on device.*\); 1 file\(s\) \(5 bytes\) were kept before it$/,
      ),
    );
    expect(readdirSync(join(mountPoint, 'artifacts', agentId))).toEqual([sha256('small')]);
    // Room again: the next run keeps its artifacts.
    const next = await startRun(small.url, { steps: ["mkdir -p /tmp/o && printf 'again' > /tmp/o/x"], artifacts: ['/tmp/o'] });
    const after = await waitForFinal<RunView>(small.url, next.agentId, 60_000, SELECTION);
    expect(after.artifacts.map((a) => [a.path, a.sha256])).toEqual([['/tmp/o/x', sha256('again')]]);
  });
});
