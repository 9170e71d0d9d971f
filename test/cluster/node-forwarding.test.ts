import { createHash, randomBytes } from 'node:crypto';
import type { RequestListener } from 'node:http';
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExternalRunApi } from '../../src/api/context.js';
import { FORWARDED_HEADER, NodeForwarding, type NodeAddress } from '../../src/cluster/node-forwarding.js';
import { HttpTransport } from '../../src/client/http-transport.js';
import { READ_FILE } from '../../src/client/operations.js';
import { BosunError } from '../../src/errors.js';
import type { ExecOutcome } from '../../src/runs/external/external-session.js';
import { createBosunServer, type BosunServer } from '../../src/server/create-server.js';
import { FakeExternalRuns, WAIT_FOR_ABORT } from '../helpers/fake-external-runs.js';
import { createFakeServices, type FakeServices } from '../helpers/fake-services.js';
import { makeRun } from '../helpers/fixtures.js';
import { createTestLogger } from '../helpers/test-logger.js';

const TOKEN = 'cluster-token';
const RUN = 'run-b';

/** A real bosun server playing a node: fake run services, a fake external service, and every request's headers recorded. */
interface TestNode extends NodeAddress {
  readonly server: BosunServer;
  readonly services: FakeServices;
  readonly external: FakeExternalRuns;
  readonly headers: Record<string, string | string[] | undefined>[];
}

type RequestWrapper = (headers: Record<string, string | string[] | undefined>, handle: () => void) => void;

async function startNode(
  name: string,
  options: { wrap?: RequestWrapper; external?: (services: FakeServices) => FakeServices['external'] } = {},
): Promise<TestNode> {
  const fakes = createFakeServices();
  const external = new FakeExternalRuns(fakes.runs);
  const services: FakeServices = { ...fakes, external: options.external?.(fakes) ?? external };
  const server = createBosunServer({
    config: { host: '127.0.0.1', port: 0, apiToken: TOKEN },
    services,
    logger: createTestLogger(),
    closeGraceMs: 500,
  });
  // Records each request's headers, and lets a node handle its requests as the cluster wiring will.
  const handlers = server.httpServer.listeners('request') as RequestListener[];
  expect(handlers).toHaveLength(1);
  const [handler] = handlers as [RequestListener];
  const headers: TestNode['headers'] = [];
  server.httpServer.removeAllListeners('request');
  server.httpServer.on('request', (request, response) => {
    headers.push(request.headers);
    const wrap = options.wrap ?? ((_headers, handle) => handle());
    wrap(request.headers, () => void handler(request, response));
  });
  const { url } = await server.listen();
  return { name, url, server, services, external, headers };
}

/** A URL where nothing listens. */
async function closedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  return `http://127.0.0.1:${port}/graphql`;
}

/** Bytes compared by length and SHA-256 (a deep equality of megabytes takes seconds). */
function digest(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? 'missing' : `${bytes.length} bytes, sha256 ${createHash('sha256').update(bytes).digest('hex')}`;
}

function seedRunning(node: TestNode, id: string = RUN): void {
  node.services.runs.seed(makeRun({ id, status: 'RUNNING', startedAt: new Date('2026-11-30T05:00:00.000Z') }));
}

describe('NodeForwarding', () => {
  let owner: TestNode;
  let local: FakeExternalRuns;
  let localServices: FakeServices;
  const nodes: TestNode[] = [];

  /** Node A: runs named `local-…` are held here; every other run is held by `where`. */
  function forwardingAt(where: () => NodeAddress, options: { apiToken?: string } = {}): NodeForwarding {
    // `satisfies`: it is what the wiring puts in the API's services.external.
    return new NodeForwarding({
      nodeName: 'node-a',
      locate: (runId) => Promise.resolve(runId.startsWith('local-') ? undefined : where()),
      local,
      // The cluster's store is shared: the owner's runs are what node A reads.
      readRun: (runId) => owner.services.runs.get(runId),
      apiToken: options.apiToken ?? TOKEN,
    }) satisfies ExternalRunApi;
  }

  beforeEach(async () => {
    owner = await startNode('node-b');
    nodes.push(owner);
    seedRunning(owner);
    localServices = createFakeServices();
    local = new FakeExternalRuns(localServices.runs);
  });

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((node) => node.server.close()));
  });

  it('runs exec on the owner and answers its outcome exactly, with the caller token and the forwarding header', async () => {
    const outcome: ExecOutcome = {
      step: {
        index: 3,
        command: 'make test',
        exitCode: 2,
        startedAt: new Date('2026-11-30T05:00:00.123Z'),
        finishedAt: new Date('2026-11-30T05:00:01.456Z'),
      },
      exitCode: 2,
      stdout: 'ünïcödé ✓\nline 2\n',
      stderr: 'warn: ⚠\n',
      truncated: true,
      timedOut: true,
      durationMs: 1333,
    };
    owner.external.outcome = outcome;
    const forwarding = forwardingAt(() => owner);
    const options = { cwd: '/workspace/src', env: [{ name: 'A', value: '1' }], timeoutMs: 5000, stdin: 'input' };

    expect(await forwarding.exec(RUN, 'make test', options)).toStrictEqual(outcome);

    expect(owner.external.calls).toEqual([{ method: 'exec', runId: RUN, args: ['make test', options] }]);
    expect(owner.headers[0]).toMatchObject({ [FORWARDED_HEADER]: 'node-a', authorization: `Bearer ${TOKEN}` });
    expect(local.calls).toEqual([]);
  });

  it('serves a run held here, or held nowhere, on the local service', async () => {
    local.outcome = {
      step: { index: 1, command: 'true', exitCode: 0, startedAt: null, finishedAt: null },
      exitCode: 0,
      stdout: '',
      stderr: '',
      truncated: false,
      timedOut: false,
      durationMs: 1,
    };
    const forwarding = forwardingAt(() => owner);

    expect(await forwarding.exec('local-1', 'true')).toBe(local.outcome);
    // A locate that names this node itself is local too.
    const self = forwardingAt(() => ({ name: 'node-a', url: 'http://127.0.0.1:1' }));
    expect(await self.exec(RUN, 'true')).toBe(local.outcome);

    expect(local.calls.map((call) => call.runId)).toEqual(['local-1', RUN]);
    expect(owner.headers).toEqual([]);
  });

  it('writes, reads and lists files on the owner, text and binary, byte for byte', async () => {
    const forwarding = forwardingAt(() => owner);
    const text = 'héllo ✓\n';
    const binary = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(4096)]);

    const written = await forwarding.writeFiles(RUN, [
      { path: '/workspace/a.txt', content: text },
      { path: '/workspace/bin/b.bin', contentBase64: binary.toString('base64'), mode: 0o755 },
    ]);

    expect(written).toStrictEqual([
      { path: '/workspace/a.txt', type: 'FILE', sizeBytes: Buffer.byteLength(text), mode: 0o644 },
      { path: '/workspace/bin/b.bin', type: 'FILE', sizeBytes: binary.length, mode: 0o755 },
    ]);
    expect(owner.external.files.get('/workspace/bin/b.bin')).toEqual(binary);
    expect(await forwarding.readFile(RUN, '/workspace/a.txt')).toStrictEqual({
      path: '/workspace/a.txt',
      sizeBytes: Buffer.byteLength(text),
      content: text,
      contentBase64: Buffer.from(text).toString('base64'),
      truncated: false,
    });
    const read = await forwarding.readFile(RUN, '/workspace/bin/b.bin');
    expect(read.content).toBeNull();
    expect(read.sizeBytes).toBe(binary.length);
    expect(Buffer.from(read.contentBase64, 'base64')).toEqual(binary);
    expect(await forwarding.listFiles(RUN, '/workspace/bin')).toStrictEqual([
      { path: '/workspace/bin/b.bin', type: 'FILE', sizeBytes: binary.length, mode: 0o644 },
    ]);
  });

  it('uploads an archive to the owner and downloads one from it, byte for byte', async () => {
    const forwarding = forwardingAt(() => owner);
    const archive = randomBytes(3 * 1024 * 1024 + 7);

    // A Blob (what the server hands over) and any other ReopenableBytes.
    expect(await forwarding.uploadArchive(RUN, new Blob([archive]), '/workspace/in')).toStrictEqual([
      { path: '/workspace/in/upload.tar', type: 'FILE', sizeBytes: archive.length, mode: 0o600 },
    ]);
    expect(digest(owner.external.files.get('/workspace/in/upload.tar'))).toBe(digest(archive));
    const bytes = { size: archive.length, stream: () => new Blob([archive]).stream() };
    await forwarding.uploadArchive(RUN, bytes, null);
    expect(digest(owner.external.files.get('/workspace/upload.tar'))).toBe(digest(archive));

    const out = randomBytes(1024 * 1024 + 17);
    owner.external.files.set('/workspace/out', out);
    const stream = await forwarding.readArchive(RUN, '/workspace/out');
    expect(digest(Buffer.from(await new Response(stream).arrayBuffer()))).toBe(digest(out));
    expect(owner.external.calls.at(-1)).toEqual({ method: 'readArchive', runId: RUN, args: ['/workspace/out'] });
  });

  it('finishes and cancels on the owner, and answers the run as the store then reads it', async () => {
    const forwarding = forwardingAt(() => owner);

    const finished = await forwarding.finish(RUN, 3, 'tests still fail');
    expect(owner.external.calls).toEqual([{ method: 'finish', runId: RUN, args: [3, 'tests still fail'] }]);
    expect(finished).toEqual(await owner.services.runs.get(RUN));
    expect(finished).toMatchObject({ status: 'FAILED', exitCode: 3, error: 'tests still fail' });

    seedRunning(owner, 'run-c');
    const cancelled = await forwarding.cancelOn(owner, 'run-c', 10_000);
    expect(cancelled).toMatchObject({ id: 'run-c', status: 'CANCELLED' });
    expect(cancelled).toEqual(await owner.services.runs.get('run-c'));
    expect(local.calls).toEqual([]);
  });

  it("asks the owner for a run's idleSince at most once a second, and answers a run of this node's from its own session", async () => {
    const forwarding = forwardingAt(() => owner);
    owner.external.idle = new Date('2026-11-30T06:00:00.000Z');
    local.idle = new Date('2026-11-30T07:00:00.000Z');
    const before = owner.headers.length;

    const [first, second] = await Promise.all([forwarding.idleSince(RUN, 'node-b'), forwarding.idleSince(RUN, 'node-b')]);
    expect(first).toEqual(owner.external.idle);
    expect(second).toEqual(owner.external.idle);
    expect(await forwarding.idleSince(RUN, 'node-b')).toEqual(owner.external.idle);
    expect(owner.headers.length - before).toBe(1);
    expect(owner.headers.at(-1)).toMatchObject({ [FORWARDED_HEADER]: 'node-a' });

    // A run of this node's (or of none) never leaves it.
    expect(forwarding.idleSince(RUN, 'node-a')).toEqual(local.idle);
    expect(forwarding.idleSince(RUN, null)).toEqual(local.idle);
    expect(owner.headers.length - before).toBe(1);
  });

  it.each([
    ['NOT_FOUND', undefined],
    ['INVALID_STATE', undefined],
    ['RATE_LIMITED', undefined],
    ['FILE_ERROR', undefined],
    ['SANDBOX_ERROR', undefined],
    ['BAD_USER_INPUT', 'path'],
  ] as const)('answers the owner refusal %s with its code, message and field', async (code, field) => {
    const forwarding = forwardingAt(() => owner);
    owner.external.failure = new BosunError(code, `the owner says ${code}`, field === undefined ? {} : { field });

    for (const call of [() => forwarding.readFile(RUN, '/workspace/a'), () => forwarding.exec(RUN, 'true')]) {
      const error = await call().then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(BosunError);
      expect(error).toMatchObject({ code, message: `the owner says ${code}`, field });
    }
  });

  it("answers an archive download's refusal with the owner's code", async () => {
    const forwarding = forwardingAt(() => owner);

    await expect(forwarding.readArchive(RUN, '/workspace/missing')).rejects.toMatchObject({
      name: 'BosunError',
      code: 'NOT_FOUND',
      message: 'path: /workspace/missing does not exist',
    });
  });

  it('answers UNAVAILABLE, naming the node and its URL, when the owner does not answer or refuses the token', async () => {
    const url = await closedUrl();
    const gone = forwardingAt(() => ({ name: 'node-c', url }));

    const error = await gone.exec(RUN, 'true').catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(BosunError);
    expect(error).toMatchObject({ code: 'UNAVAILABLE' });
    expect((error as Error).message).toContain(`node node-c (${url}), which holds run ${RUN}, did not answer`);
    await expect(gone.readArchive(RUN, '/workspace')).rejects.toMatchObject({ code: 'UNAVAILABLE' });

    const wrongToken = forwardingAt(() => owner, { apiToken: 'not-the-cluster-token' });
    await expect(wrongToken.readFile(RUN, '/workspace/a')).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/node node-b .* refused this node's token \(UNAUTHENTICATED.*BOSUN_API_TOKEN/) as unknown,
    });
    const bad = forwardingAt(() => ({ name: 'node-d', url: 'ftp://example.invalid' }));
    await expect(bad.listFiles(RUN, '/workspace')).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining('node-d') as unknown,
    });
    expect(owner.external.calls).toEqual([]);
  });

  it("ends the owner's call when the caller goes away", async () => {
    const forwarding = forwardingAt(() => owner);
    const caller = new AbortController();

    const call = forwarding.exec(RUN, WAIT_FOR_ABORT, null, caller.signal);
    await owner.external.waiting.promise;
    const reason = new Error('the client went away');
    caller.abort(reason);

    await expect(call).rejects.toBe(reason);
    // Resolves only once the owner's own signal for the call has aborted.
    await owner.external.aborted.promise;
  });

  it('never forwards a forwarded request again, and serves it when the run is held here', async () => {
    const third = await startNode('node-c');
    nodes.push(third);
    let forwardingB!: NodeForwarding;
    // Node B handles forwarded requests as the wiring must; it sees run-b held by node C (a stale view).
    const nodeB = await startNode('node-b', {
      wrap: (headers, handle) => forwardingB.handleRequest(headers, handle),
      external: (services) => {
        const localB = new FakeExternalRuns(services.runs);
        forwardingB = new NodeForwarding({
          nodeName: 'node-b',
          locate: (runId) => Promise.resolve(runId === 'held-by-b' ? undefined : third),
          local: localB,
          readRun: (runId) => services.runs.get(runId),
          apiToken: TOKEN,
        });
        localB.files.set('/workspace/a', Buffer.from('on b'));
        return forwardingB;
      },
    });
    nodes.push(nodeB);
    const forwardingA = forwardingAt(() => nodeB);

    await expect(forwardingA.readFile(RUN, '/workspace/a')).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining('was forwarded to node node-b by node node-a, but node node-b sees it held by node node-c') as unknown,
    });
    await expect(forwardingA.readArchive(RUN, '/workspace/a')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(third.headers).toEqual([]);

    // Forwarded, but held by B: served there.
    expect(await forwardingA.readFile('held-by-b', '/workspace/a')).toMatchObject({ content: 'on b' });

    // The same call sent to B by a client (not forwarded) is forwarded by B.
    third.external.files.set('/workspace/a', Buffer.from('on c'));
    const client = new HttpTransport({ url: nodeB.url, token: TOKEN });
    const data = await client.request<{ readFile: { content: string } }>(READ_FILE, { id: RUN, path: '/workspace/a' });
    expect(data.readFile.content).toBe('on c');
    expect(third.headers).toHaveLength(1);
    expect(third.headers[0]).toMatchObject({ [FORWARDED_HEADER]: 'node-b' });
  });
});
