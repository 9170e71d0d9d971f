/**
 * End to end over HTTP and graphql-ws with the real engine: a run gets the limits it asked for
 * (in the API, in `docker inspect` and in its own cgroup), `agentLogs` resumes exactly after
 * `afterSeq`, and `cancelAgent` stops a running run and removes its container.
 */
import type Docker from 'dockerode';
import type { Client } from 'graphql-ws';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { containersOf, createTestDocker } from '../helpers/docker.js';
import { readToEnd, startRun, waitForContainer, waitForFinal, waitForRun, gql, type RunState } from '../helpers/e2e.js';
import { createWsClient } from '../helpers/graphql-clients.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

let docker: Docker;
let app: TestApp;
let client: Client;

beforeAll(() => {
  docker = createTestDocker();
});

beforeEach(async () => {
  app = await startTestApp({ MAX_CONCURRENT_AGENTS: '2' });
  client = createWsClient(app.wsUrl);
});

afterEach(async () => {
  await client.dispose();
  expect(await app.close(), 'containers left behind by the app').toBe(0);
});

const MiB256 = 256 * 1024 * 1024;

interface LogLine {
  readonly seq: number;
  readonly stream: string;
  readonly step: number | null;
  readonly line: string;
}

describe('startAgent with limits', () => {
  it('runs in a container with the asked CPU, memory and pids limits, seen by the engine and from inside', async () => {
    const started = await startRun(app.url, {
      memory: '256m',
      cpus: 0.5,
      pidsLimit: 128,
      steps: ['cat /sys/fs/cgroup/memory/memory.limit_in_bytes; sleep 2'],
    });
    expect(started).toMatchObject({ status: 'RUNNING', queue: { position: 0 } });

    // While it sleeps: the container carries the run's label and the limits.
    // The run names its container once the container has started (one found by label may still be starting).
    const running = await waitForRun(app.url, started.agentId, (run) => run['containerId'] !== null, 'the run has its container');
    const containerId = await waitForContainer(docker, app, started.agentId);
    expect(running).toMatchObject({ status: 'RUNNING', containerId });
    const info = await docker.getContainer(containerId).inspect();
    expect(info.State.Running).toBe(true);
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.Memory).toBe(MiB256);
    expect(info.HostConfig.PidsLimit).toBe(128);

    const run = await waitForFinal<RunState & { limits: { cpus: number; memoryBytes: number; pidsLimit: number }; logs: LogLine[] }>(
      app.url,
      started.agentId,
      20_000,
      'failureReason error limits { cpus memoryBytes pidsLimit } logs { seq stream step line }',
    );
    expect(run).toMatchObject({ status: 'SUCCEEDED', failureReason: null, error: null });
    expect(run['limits']).toEqual({ cpus: 0.5, memoryBytes: MiB256, pidsLimit: 128 });
    const stdout = run.logs.filter((line) => line.stream === 'STDOUT');
    expect(stdout).toEqual([{ stream: 'STDOUT', step: 1, line: String(MiB256), seq: expect.any(Number) as number }]);

    // The run is final only once its container is gone.
    expect(await containersOf(docker, app.app.instanceId, started.agentId)).toEqual([]);
  });
});

describe('agentLogs(afterSeq)', () => {
  const LOGS = 'query ($id: ID!, $after: Int) { agentRun(id: $id) { status logs(afterSeq: $after) { seq stream step line } } }';
  const SUBSCRIBE = 'subscription ($id: ID!, $after: Int) { agentLogs(agentId: $id, afterSeq: $after) { agentId seq stream step line } }';

  it('resumes exactly after the given line, through the buffered and the live lines, once each, then completes', async () => {
    // Lines 1..200, then more lines later: the resumed stream replays part of the buffer and
    // follows the rest live.
    const { agentId } = await startRun(app.url, { steps: ['seq 1 200', 'sleep 1', 'seq 201 300'] });

    // Wait until line "100" is buffered, while the run still runs.
    let seqOf100: number | undefined;
    const deadline = Date.now() + 20_000;
    while (seqOf100 === undefined) {
      const { agentRun } = await gql<{ agentRun: { logs: LogLine[] } }>(app.url, LOGS, { id: agentId });
      seqOf100 = agentRun.logs.find((line) => line.stream === 'STDOUT' && line.line === '100')?.seq;
      if (Date.now() > deadline) throw new Error('line "100" never appeared');
      if (seqOf100 === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const { agentRun: atSubscribe } = await gql<{ agentRun: { status: string } }>(app.url, 'query ($id: ID!) { agentRun(id: $id) { status } }', {
      id: agentId,
    });
    expect(atSubscribe.status).toBe('RUNNING');

    const results = await readToEnd(
      client.iterate<{ agentLogs: LogLine & { agentId: string } }>({ query: SUBSCRIBE, variables: { id: agentId, after: seqOf100 } }),
      'agentLogs',
    );
    expect(results.every((result) => result.errors === undefined)).toBe(true);
    const streamed = results.map((result) => result.data!.agentLogs);
    expect(streamed.every((line) => line.agentId === agentId)).toBe(true);

    // Once each, in order, with no gap: seqOf100 + 1, + 2, …
    expect(streamed.map((line) => line.seq)).toEqual(streamed.map((_, index) => seqOf100 + 1 + index));
    // The output lines after "100" are 101..300, and nothing before it.
    const output = streamed.filter((line) => line.stream === 'STDOUT').map((line) => line.line);
    expect(output).toEqual(Array.from({ length: 200 }, (_, index) => String(101 + index)));

    // Exactly what the buffer holds after that line, now that the run is over.
    const final = await waitForFinal(app.url, agentId);
    expect(final['status']).toBe('SUCCEEDED');
    const { agentRun } = await gql<{ agentRun: { logs: LogLine[] } }>(app.url, LOGS, { id: agentId, after: seqOf100 });
    expect(streamed.map(({ agentId: _, ...line }) => line)).toEqual(agentRun.logs);

    // Resuming again after the run is final replays the same lines and completes.
    const replay = await readToEnd(
      client.iterate<{ agentLogs: LogLine & { agentId: string } }>({ query: SUBSCRIBE, variables: { id: agentId, after: seqOf100 } }),
      'agentLogs replay',
    );
    expect(replay.map((result) => result.data?.agentLogs)).toEqual(streamed);
  });
});

describe('cancelAgent', () => {
  const CANCEL = 'mutation ($id: ID!) { cancelAgent(id: $id) { id status failureReason error finishedAt containerId } }';

  it('stops a running run: it ends CANCELLED and its container is gone when the mutation answers', async () => {
    const { agentId } = await startRun(app.url, { steps: ['sleep 30'] });
    const containerId = await waitForContainer(docker, app, agentId);
    // The run knows its container once it has started it.
    await waitForRun(app.url, agentId, (run) => run['containerId'] !== null, 'the run has its container');

    const { cancelAgent } = await gql<{ cancelAgent: RunState & { finishedAt: string | null } }>(app.url, CANCEL, { id: agentId });
    expect(cancelAgent).toMatchObject({ id: agentId, status: 'CANCELLED', failureReason: null, containerId });
    expect(cancelAgent.finishedAt).toEqual(expect.any(String));
    expect(await containersOf(docker, app.app.instanceId, agentId)).toEqual([]);
    await expect(docker.getContainer(containerId).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('cancels a run whose container is still being set up, leaving no container either', async () => {
    const { agentId, status } = await startRun(app.url, { steps: ['sleep 30'] });
    expect(status).toBe('RUNNING'); // it took a free slot: its sandbox is being created now

    const { cancelAgent } = await gql(app.url, CANCEL, { id: agentId });
    expect(cancelAgent).toMatchObject({ id: agentId, status: 'CANCELLED', failureReason: null });
    expect(await containersOf(docker, app.app.instanceId, agentId)).toEqual([]);
  });
});
