/**
 * Faults, with the whole service in process: the engine going away and coming back, an engine
 * that stops answering, and subscribers that vanish.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket from 'ws';
import { afterEach, expect, it } from 'vitest';
import { DockerProxy } from '../helpers/docker-proxy.js';
import { startRun, until } from '../helpers/e2e.js';
import { postGraphQL } from '../helpers/graphql-clients.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function app(env: Record<string, string>): Promise<TestApp> {
  const started = await startTestApp(env);
  cleanups.push(async () => expect(await started.close()).toBe(0));
  return started;
}

async function proxy(): Promise<DockerProxy> {
  const p = new DockerProxy();
  await p.up();
  cleanups.push(() => p.down());
  return p;
}

async function startShellRun(url: string, steps: string[]): Promise<string> {
  return (await startRun(url, { steps })).agentId;
}

interface RunState {
  readonly status: string;
  readonly failureReason: string | null;
  readonly error: string | null;
  readonly samples: readonly unknown[];
}

async function runState(url: string, id: string): Promise<RunState> {
  const { body } = await postGraphQL<{ agentRun: RunState }>(
    url,
    'query($id: ID!) { agentRun(id: $id) { status failureReason error samples { at } } }',
    { id },
  );
  return body.data!.agentRun;
}

interface EngineReport {
  readonly healthReport: { readonly docker: { readonly reachable: boolean; readonly error: string | null } };
  readonly queueStatus: { readonly paused: boolean; readonly queued: number; readonly running: number };
}

/**
 * Slack on top of what the service's own settings allow for, so that the bound below still holds
 * while other work loads both cores (the app shares this process's event loop with the test). A
 * service that waited for anything but its next health checks would still miss them by seconds.
 */
const LOADED_MACHINE_SLACK_MS = 2_000;

/**
 * Waits until `count()` satisfies `done`, failing only once it has not moved for `stallMs`: a
 * loaded machine takes longer to open or close a thousand subscriptions, a stuck server fails.
 */
async function whileMoving(what: string, count: () => number, done: (value: number) => boolean, stallMs = 10_000): Promise<void> {
  let last = count();
  let movedAt = Date.now();
  while (!done(last)) {
    await delay(10);
    const value = count();
    if (value !== last) {
      last = value;
      movedAt = Date.now();
    } else if (Date.now() - movedAt > stallMs) {
      throw new Error(`${what}: stuck at ${value} for ${stallMs} ms`);
    }
  }
}

it('keeps answering while the engine is away for 20 s: pauses the queue, fails the running runs as engine lost, and resumes', async () => {
  const engine = await proxy();
  const healthCheckIntervalMs = 1_000;
  const dockerCallTimeoutMs = 2_000;
  const test = await app({
    DOCKER_HOST: engine.dockerHost,
    MAX_CONCURRENT_AGENTS: '2',
    HEALTH_CHECK_INTERVAL_MS: String(healthCheckIntervalMs),
    RESOURCE_SAMPLE_INTERVAL_MS: '500',
    DOCKER_CALL_TIMEOUT_MS: String(dockerCallTimeoutMs),
  });
  const running = [await startShellRun(test.url, ['sleep 60']), await startShellRun(test.url, ['sleep 60'])];
  const waiting: string[] = [];
  for (let i = 0; i < 3; i += 1) waiting.push(await startShellRun(test.url, ['sleep 2', `echo waited-${i}`]));
  await until('both runs to have a container', 20_000, async () => {
    const states = await Promise.all(running.map((id) => runState(test.url, id)));
    return states.every((s) => s.status === 'RUNNING' && s.samples.length > 0) ? true : undefined;
  });

  await engine.down();
  const lostAt = Date.now();
  // Noticed by the next health check: within an interval and a call's timeout (the deadline of
  // `until` is the bound; the slack is for a loaded machine).
  const unreachable = await until(
    'the report to say the engine is unreachable',
    healthCheckIntervalMs + dockerCallTimeoutMs + LOADED_MACHINE_SLACK_MS,
    async () => {
      const { body } = await postGraphQL<EngineReport>(
        test.url,
        '{ healthReport { docker { reachable error } } queueStatus { paused queued running } }',
      );
      return body.data!.healthReport.docker.reachable === false ? body.data! : undefined;
    },
  );
  expect(unreachable.healthReport.docker.error).toBeTruthy();
  for (const id of running) {
    const state = await until(`run ${id} to end`, 15_000, async () => {
      const s = await runState(test.url, id);
      return ['FAILED', 'SUCCEEDED', 'CANCELLED', 'TIMED_OUT'].includes(s.status) ? s : undefined;
    });
    expect(state.status).toBe('FAILED');
    expect(['SANDBOX_ERROR', 'INTERRUPTED']).toContain(state.failureReason);
    expect(state.error).toMatch(/lost the Docker engine/);
  }
  const { body: during } = await postGraphQL<{ queueStatus: { paused: boolean; queued: number } }>(test.url, '{ queueStatus { paused queued } }');
  expect(during.data!.queueStatus).toEqual({ paused: true, queued: 3 });
  for (const id of waiting) expect((await runState(test.url, id)).status).toBe('QUEUED');
  await delay(Math.max(0, 20_000 - (Date.now() - lostAt)));

  await engine.up();
  // Resumed by the next health check, then a container created and sampled: the deadline of
  // `until` is the bound (a separate elapsed-time check after it could only fail on the time its
  // last probe took).
  await until('the queue to resume and a waiting run to be sampled', 10_000, async () => {
    const states = await Promise.all(waiting.map((id) => runState(test.url, id)));
    return states.some((s) => s.status === 'RUNNING' && s.samples.length > 0) || states.every((s) => s.status === 'SUCCEEDED') ? true : undefined;
  });
  for (const id of waiting) {
    await until(`waiting run ${id} to succeed`, 30_000, async () => ((await runState(test.url, id)).status === 'SUCCEEDED' ? true : undefined));
  }
}, 120_000);

it('cannot hang a run on an engine that accepts and never answers: it fails after DOCKER_CALL_TIMEOUT_MS, the queue holds, then moves on', async () => {
  const engine = await proxy();
  const test = await app({
    DOCKER_HOST: engine.dockerHost,
    MAX_CONCURRENT_AGENTS: '1',
    HEALTH_CHECK_INTERVAL_MS: '60000',
    DOCKER_CALL_TIMEOUT_MS: '1500',
  });
  const first = await startShellRun(test.url, ['sleep 2', 'echo never']);
  const second = await startShellRun(test.url, ['true']);
  await until('the first run to start its step', 10_000, async () => ((await runState(test.url, first)).status === 'RUNNING' ? true : undefined));
  await delay(500);
  engine.silence();
  const silencedAt = Date.now();
  const failed = await until('the first run to fail', 30_000, async () => {
    const s = await runState(test.url, first);
    return s.status === 'FAILED' ? s : undefined;
  });
  expect(failed.failureReason).toBe('SANDBOX_ERROR');
  expect(failed.error).toMatch(/did not answer within 1500 ms/);
  // The queue is held rather than starting the next run into the same fault, and nothing is stuck.
  const { body: held } = await postGraphQL<Pick<EngineReport, 'queueStatus'>>(test.url, '{ queueStatus { paused running queued } }');
  expect(held.data!.queueStatus).toEqual({ paused: true, running: 0, queued: 1 });
  expect(Date.now() - silencedAt).toBeLessThan(30_000);
  engine.answer();
  await test.app.monitor.runHealthCheck();
  await until('the second run to succeed once the engine answers', 20_000, async () =>
    (await runState(test.url, second)).status === 'SUCCEEDED' ? true : undefined,
  );
}, 90_000);

it('leaves no subscription and no stats stream behind after 1,000 subscribers vanish, ten times over', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const test = await app({
    MAX_CONCURRENT_AGENTS: '1',
    RESOURCE_SAMPLE_INTERVAL_MS: '500',
    MAX_WS_CONNECTIONS: '2000',
    MAX_PENDING_WS_PER_ADDRESS: '2000',
  });
  // The run must outlive the test (closing the app ends it): its agentLogs and resourceSamples
  // subscriptions stay open only while it runs, and ten rounds take longer on a loaded machine.
  const id = await startShellRun(test.url, ['sleep 600']);
  await until('the run to be sampled', 10_000, async () => ((await runState(test.url, id)).samples.length > 0 ? true : undefined));
  // One stats stream: the running container's.
  expect(test.app.monitor.openStreamCount()).toBe(1);
  const subscriptions = [
    'subscription { queueStatusChanged { running } }',
    `subscription { resourceSamples(agentId: "${id}") { cpuPercent } }`,
    `subscription { agentLogs(agentId: "${id}") { seq } }`,
    'subscription { healthAlerts { id } }',
    'subscription { agentRunUpdated { id } }',
  ];

  const round = async () => {
    const sockets = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const socket = new WebSocket(test.wsUrl, 'graphql-transport-ws');
        await new Promise<void>((resolve, reject) => socket.once('open', resolve).once('error', reject));
        const acked = new Promise<void>((resolve) => socket.once('message', () => resolve()));
        socket.send(JSON.stringify({ type: 'connection_init' }));
        await acked;
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: subscriptions[i % subscriptions.length] } }));
        return socket;
      }),
    );
    await whileMoving(
      '1,000 subscriptions to be open',
      () => test.app.server.streams.size,
      (open) => open >= 1000,
    );
    for (const socket of sockets) socket.terminate();
    await whileMoving(
      'every subscription to be closed',
      () => test.app.server.streams.size,
      (open) => open === 0,
    );
  };

  const settledHeap = async () => {
    await delay(200);
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  // Two rounds warm up what is allocated once (compiled code, pools); then the baseline.
  await round();
  await round();
  const heapBefore = await settledHeap();
  for (let i = 0; i < 8; i += 1) await round();
  const heapAfter = await settledHeap();
  expect(test.app.server.streams.size).toBe(0);
  expect(test.app.monitor.openStreamCount()).toBe(1);
  expect(heapAfter, `heap ${heapBefore} → ${heapAfter} bytes`).toBeLessThan(heapBefore * 1.1);
}, 180_000);
