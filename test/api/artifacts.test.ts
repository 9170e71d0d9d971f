import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { artifactUrl, isArtifactUrl, parseArtifactUrl } from '../../src/api/artifacts.js';
import type { Artifact, ArtifactSource } from '../../src/runs/artifact-store.js';
import { createFakeServices } from '../helpers/fake-services.js';
import { post, startHardenedServer, type HardenedServer } from '../hardening/hardened-server.js';

describe('artifact URLs', () => {
  it('round-trip any run id and sandbox path through the URL the server parses', () => {
    // Stored paths are normalised: no empty, `.` or `..` segment (run ids are UUIDs).
    const segment = fc.string({ minLength: 1, maxLength: 12, unit: 'binary' }).filter((s) => !s.includes('/') && s !== '.' && s !== '..');
    fc.assert(
      fc.property(segment, fc.array(segment, { minLength: 1, maxLength: 6 }), (runId, segments) => {
        const path = `/${segments.join('/')}`;
        const url = artifactUrl(runId, path);
        // As a request would carry it: the URL parser may normalise the path, never change our segments.
        const { pathname } = new URL(url, 'http://localhost');
        expect(pathname).toBe(url);
        expect(isArtifactUrl(pathname)).toBe(true);
        expect(parseArtifactUrl(pathname)).toEqual({ runId, path });
      }),
      { examples: [['r1', ['.x', '..y', '%2e%2e', 'a?b#c', ' ']]] },
    );
  });

  it('parses nothing else', () => {
    for (const pathname of ['/runs/r1', '/runs/r1/artifacts', '/runs//artifacts/x', '/graphql', '/runs/r1/archive/x', '/runs/r1/artifacts/%zz']) {
      expect(parseArtifactUrl(pathname), pathname).toBeUndefined();
    }
    expect(artifactUrl('r1', '/workspace/out/fix.patch')).toBe('/runs/r1/artifacts/workspace/out/fix.patch');
  });
});

describe('AgentRun.artifacts', () => {
  let test: HardenedServer | undefined;
  afterEach(async () => {
    await test?.close();
    test = undefined;
  });

  const artifact = (runId: string, path: string, content: string): Artifact => ({
    runId,
    path,
    sizeBytes: Buffer.byteLength(content),
    sha256: createHash('sha256').update(content).digest('hex'),
    createdAt: new Date(),
  });

  it('lists what the store kept for the run, with each download URL', async () => {
    const kept = [artifact('run-1', '/workspace/out/a b.txt', 'hello'), artifact('run-1', '/workspace/out/fix.patch', 'patch')];
    const source: ArtifactSource = {
      list: (runId) => Promise.resolve(runId === 'run-1' ? kept : []),
      get: () => Promise.resolve(undefined),
      read: () => Promise.resolve(undefined),
    };
    const services = { ...createFakeServices(), artifacts: source };
    test = await startHardenedServer({}, { services });
    await services.runs.start({ group: { id: 'g', name: 'g' }, config: {} });
    await services.runs.start({ group: { id: 'g', name: 'g' }, config: {} });
    const { body } = await post<{ agentRuns: { id: string; artifacts: unknown[] }[] }>(
      test.url,
      '{ agentRuns { id artifacts { path size sha256 url } } }',
    );
    expect(body.errors).toBeUndefined();
    const byId = Object.fromEntries(body.data!.agentRuns.map((run) => [run.id, run.artifacts]));
    expect(byId['run-2']).toEqual([]);
    expect(byId['run-1']).toEqual([
      { path: '/workspace/out/a b.txt', size: 5, sha256: kept[0]!.sha256, url: '/runs/run-1/artifacts/workspace/out/a%20b.txt' },
      { path: '/workspace/out/fix.patch', size: 5, sha256: kept[1]!.sha256, url: '/runs/run-1/artifacts/workspace/out/fix.patch' },
    ]);
  });

  it('is empty when the server has no artifact store', async () => {
    const services = createFakeServices();
    test = await startHardenedServer({}, { services });
    const { run } = await services.runs.start({ group: { id: 'g', name: 'g' }, config: {} });
    const { body } = await post(test.url, 'query($id: ID!) { agentRun(id: $id) { artifacts { path } } }', { id: run.id });
    expect(body).toEqual({ data: { agentRun: { artifacts: [] } } });
  });
});
