/**
 * End to end: every error code the API gives, from the whole service with the real engine (and
 * once without one), each reaching the client as `extensions.code` — and a refused request
 * leaves nothing behind.
 */
import type Docker from 'dockerode';
import type { Client } from 'graphql-ws';
import { existsSync } from 'node:fs';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { containersOf, createTestDocker } from '../helpers/docker.js';
import { gql, gqlErrors, START_AGENT, startInput, startRun, waitForContainer, waitForFinal, waitForRun } from '../helpers/e2e.js';
import { createWsClient, within } from '../helpers/graphql-clients.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

let docker: Docker;
let app: TestApp;
let client: Client;

beforeAll(() => {
  docker = createTestDocker();
});

beforeEach(async () => {
  app = await startTestApp({ MAX_QUEUE_LENGTH: '1', MAX_CONCURRENT_AGENTS: '1' });
  client = createWsClient(app.wsUrl);
});

afterEach(async () => {
  await client.dispose();
  expect(await app.close(), 'containers left behind by the app').toBe(0);
});

const RUNS = '{ agentRuns(limit: 500) { id status } }';

/** Container `create` events of the app's instance since `sinceMs`, from the engine's own event log. */
async function containerCreations(instanceId: string, sinceMs: number): Promise<string[]> {
  const stream = await docker.getEvents({
    since: Math.floor(sinceMs / 1000) - 1,
    until: Math.ceil(Date.now() / 1000),
    filters: { type: ['container'], event: ['create'], label: [`bosun.instance=${instanceId}`] },
  });
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => (JSON.parse(line) as { Actor: { Attributes: Record<string, string> } }).Actor.Attributes['bosun.agent'] ?? '?');
}

describe('BAD_USER_INPUT', () => {
  it('refuses memory "2x" naming the field, and creates no container and no run', async () => {
    const since = Date.now();
    // A run that did get a container, so that the engine's event log is shown to see creations.
    const ok = await startRun(app.url, { steps: ['true'] });
    await waitForFinal(app.url, ok.agentId);
    const runsBefore = await gql(app.url, RUNS);
    expect(await containersOf(docker, app.app.instanceId)).toEqual([]);

    const errors = await gqlErrors(app.url, START_AGENT, { input: startInput({ memory: '2x', steps: ['echo never'] }) });
    expect(errors).toEqual([
      expect.objectContaining({
        path: ['startAgent'],
        extensions: { code: 'BAD_USER_INPUT', field: 'input.config.memory' },
      }),
    ]);
    expect(errors[0]?.message).toMatch(/^input\.config\.memory: expected .*, got "2x"$/);

    expect(await containersOf(docker, app.app.instanceId)).toEqual([]);
    expect(await gql(app.url, RUNS)).toEqual(runsBefore);
    expect(await gql(app.url, '{ queueStatus { running queued } }')).toEqual({ queueStatus: { running: 0, queued: 0 } });
    // The engine never created a container for it: the only creation is the good run's.
    expect(await containerCreations(app.app.instanceId, since)).toEqual([ok.agentId]);
  });

  it('refuses an image the engine does not have, naming input.config.image, and creates no container and no run', async () => {
    const since = Date.now();
    const runsBefore = await gql(app.url, RUNS);
    const image = 'bosun-no-such-image:never';
    const errors = await gqlErrors(app.url, START_AGENT, { input: startInput({ image, steps: ['true'] }) });
    expect(errors).toEqual([
      expect.objectContaining({
        path: ['startAgent'],
        extensions: { code: 'BAD_USER_INPUT', field: 'input.config.image' },
      }),
    ]);
    expect(errors[0]?.message).toContain('input.config.image');
    expect(errors[0]?.message).toContain(image);
    expect(await gql(app.url, RUNS)).toEqual(runsBefore);
    expect(await containerCreations(app.app.instanceId, since)).toEqual([]);
  });
});

describe('NOT_FOUND', () => {
  it('cancelAgent of an unknown id', async () => {
    const errors = await gqlErrors(app.url, 'mutation { cancelAgent(id: "no-such-run") { id } }');
    expect(errors).toEqual([
      expect.objectContaining({ path: ['cancelAgent'], extensions: expect.objectContaining({ code: 'NOT_FOUND' }) as object }),
    ]);
    expect(errors[0]?.message).toContain('no-such-run');
  });

  it('queuePositionChanged of an unknown id, over graphql-ws', async () => {
    const stream = client.iterate({ query: 'subscription { queuePositionChanged(agentId: "no-such-run") { position } }' });
    // graphql-ws rejects the iterator with the operation's errors, or yields a result carrying them.
    const errors = await within(
      (async () => {
        const found: { message: string; extensions?: Record<string, unknown> }[] = [];
        for await (const result of stream) found.push(...((result.errors ?? []) as typeof found));
        return found;
      })().catch((thrown: unknown) => thrown as { message: string; extensions?: Record<string, unknown> }[]),
      'the NOT_FOUND error',
      10_000,
    );
    expect(errors).toEqual([
      expect.objectContaining({
        message: 'agentId: no agent run with id "no-such-run"',
        extensions: { code: 'NOT_FOUND', field: 'agentId' },
      }),
    ]);
    expect(app.app.server.streams.size).toBe(0);
  });
});

describe('QUEUE_FULL', () => {
  it('refuses the next run when one runs and MAX_QUEUE_LENGTH (1) wait', async () => {
    const running = await startRun(app.url, { steps: ['sleep 30'] });
    const waiting = await startRun(app.url, { steps: ['true'] });
    expect([running.status, waiting.status]).toEqual(['RUNNING', 'QUEUED']);

    const errors = await gqlErrors(app.url, START_AGENT, { input: startInput({ steps: ['true'] }) });
    expect(errors).toEqual([expect.objectContaining({ path: ['startAgent'], extensions: { code: 'QUEUE_FULL' } })]);
    expect(await gql(app.url, '{ queueStatus { running queued } }')).toEqual({ queueStatus: { running: 1, queued: 1 } });
    // Only the two accepted runs wait or run. (The refused request does leave a FAILED run with
    // failureReason null in agentRuns: the run service stores a run before the queue refuses it.)
    const { agentRuns } = await gql(app.url, '{ agentRuns(status: [QUEUED, RUNNING]) { id status } }');
    expect(agentRuns).toEqual([
      { id: waiting.agentId, status: 'QUEUED' },
      { id: running.agentId, status: 'RUNNING' },
    ]);

    // Once the line has room again, a run is accepted.
    await gql(app.url, 'mutation ($id: ID!) { cancelAgent(id: $id) { status } }', { id: waiting.agentId });
    const next = await startRun(app.url, { steps: ['true'] });
    expect(next.queue).toMatchObject({ position: 1, running: 1, queued: 1 });
    await waitForContainer(docker, app, running.agentId);
    await waitForRun(app.url, running.agentId, (run) => run['containerId'] !== null, 'the first run has its container');
    await gql(app.url, 'mutation ($id: ID!) { cancelAgent(id: $id) { status } }', { id: running.agentId });
    expect((await waitForFinal(app.url, next.agentId))['status']).toBe('SUCCEEDED');
  });
});

describe('INVALID_STATE', () => {
  it('cancelAgent of a finished run, which stays as it was', async () => {
    const { agentId } = await startRun(app.url, { steps: ['echo done'] });
    const final = await waitForFinal<{ status: string; finishedAt: string }>(app.url, agentId, 20_000, 'finishedAt');
    expect(final['status']).toBe('SUCCEEDED');

    const errors = await gqlErrors(app.url, 'mutation ($id: ID!) { cancelAgent(id: $id) { id } }', { id: agentId });
    expect(errors).toEqual([expect.objectContaining({ path: ['cancelAgent'], extensions: { code: 'INVALID_STATE' } })]);
    expect(errors[0]?.message).toContain(agentId);
    const after = await gql(app.url, 'query ($id: ID!) { agentRun(id: $id) { status finishedAt } }', { id: agentId });
    expect(after.agentRun).toEqual({ status: 'SUCCEEDED', finishedAt: final['finishedAt'] });
  });
});

describe('DOCKER_UNAVAILABLE', () => {
  it('starts and answers without an engine, refuses startAgent with DOCKER_UNAVAILABLE and reports the engine unreachable', async () => {
    const socket = '/tmp/bosun-no-engine.sock';
    expect(existsSync(socket), `${socket} must not exist: nothing may listen there`).toBe(false);
    const offline = await startTestApp({ DOCKER_HOST: `unix://${socket}` });
    try {
      expect(await gql(offline.url, '{ queueStatus { running queued } }')).toEqual({ queueStatus: { running: 0, queued: 0 } });

      const errors = await gqlErrors(offline.url, START_AGENT, { input: startInput({ steps: ['true'] }) });
      expect(errors).toEqual([expect.objectContaining({ path: ['startAgent'], extensions: { code: 'DOCKER_UNAVAILABLE' } })]);
      expect(await gql(offline.url, RUNS)).toEqual({ agentRuns: [] });

      const { healthReport } = await gql<{
        healthReport: { docker: { reachable: boolean; version: string | null; error: string | null }; overall: { totalContainers: number } };
      }>(offline.url, '{ healthReport { docker { reachable version error } overall { totalContainers } } }');
      expect(healthReport.docker).toMatchObject({ reachable: false, version: null });
      expect(healthReport.docker.error).toEqual(expect.stringMatching(/\S/));
      expect(healthReport.overall.totalContainers).toBe(0);
    } finally {
      expect(await offline.close()).toBe(0);
    }
  });
});
