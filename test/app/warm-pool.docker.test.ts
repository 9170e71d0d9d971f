/**
 * The warm pool in the whole service: runs start warm (`AgentRun.warmStart`), never share a
 * container or a file, a run as root starts cold, OOM in a warm sandbox is OOM_KILLED, the
 * health report shows the pool and grades only runs, and neither an engine outage nor kill -9 of
 * bosun leaves a pool sandbox behind once bosun is up again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { freePort, startChildServer, type ChildServer } from '../helpers/child-server.js';
import { DockerProxy } from '../helpers/docker-proxy.js';
import { createTestDocker, removeLeftovers, testInstanceId } from '../helpers/docker.js';
import { gql, startRun, until, waitForFinal, waitForRun } from '../helpers/e2e.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

const docker = createTestDocker();
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function app(env: Record<string, string> = {}): Promise<TestApp> {
  const started = await startTestApp({ WARM_POOL_SIZE: '1', ...env });
  cleanups.push(async () => expect(await started.close()).toBe(0));
  return started;
}

interface PoolReport {
  readonly healthReport: {
    readonly warmPool: ReadonlyArray<{ image: string; target: number; ready: number }>;
    readonly overall: { readonly totalContainers: number };
    readonly containers: ReadonlyArray<{ containerId: string; agentId: string | null }>;
  };
}

const POOL_REPORT = '{ healthReport { warmPool { image target ready } overall { totalContainers } containers { containerId agentId } } }';

/** The ids of the instance's frozen pool sandboxes (engine's view). */
async function frozenPoolSandboxes(instanceId: string): Promise<string[]> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`bosun.instance=${instanceId}`, 'bosun.pool=true'], status: ['paused'] },
  });
  return list.map((container) => container.Id);
}

async function allOf(instanceId: string): Promise<string[]> {
  return (await docker.listContainers({ all: true, filters: { label: [`bosun.instance=${instanceId}`] } })).map((container) => container.Id);
}

/** Waits until the pool has a ready sandbox (as the health report says and the engine shows, frozen); returns its id. */
async function poolReady(url: string, instanceId: string, otherThan: readonly string[] = [], ms = 30_000): Promise<string> {
  return until('a ready pool sandbox', ms, async () => {
    const { healthReport } = await gql<PoolReport>(url, POOL_REPORT);
    if (healthReport.warmPool[0]?.ready !== 1) return undefined;
    const frozen = (await frozenPoolSandboxes(instanceId)).filter((id) => !otherThan.includes(id));
    return frozen.length === 1 ? frozen[0] : undefined;
  });
}

interface WarmRun {
  readonly status: string;
  readonly failureReason: string | null;
  readonly error: string | null;
  readonly containerId: string | null;
  readonly warmStart: boolean;
  readonly logs: ReadonlyArray<{ stream: string; line: string }>;
}
const WARM_RUN = 'failureReason error containerId warmStart logs { stream line }';

function stdout(run: WarmRun): string[] {
  return run.logs.filter((line) => line.stream === 'STDOUT').map((line) => line.line);
}

it('starts runs warm, each in its own container with nothing of the run before; the report shows the pool and grades only runs', async () => {
  const test = await app();
  const instanceId = test.app.instanceId;
  const firstPool = await poolReady(test.url, instanceId);
  const idle = await gql<PoolReport>(test.url, POOL_REPORT);
  expect(idle.healthReport.warmPool).toEqual([{ image: 'bosun-sandbox:latest', target: 1, ready: 1 }]);
  // A frozen pool sandbox is no run: not watched, graded or counted.
  expect(idle.healthReport.overall.totalContainers).toBe(0);
  expect(idle.healthReport.containers).toEqual([]);
  // Nor does it count against MAX_CONCURRENT_AGENTS (1 here): a run starts at once beside it.
  const { queueStatus } = await gql<{ queueStatus: { running: number; maxConcurrency: number } }>(
    test.url,
    '{ queueStatus { running maxConcurrency } }',
  );
  expect(queueStatus).toEqual({ running: 0, maxConcurrency: 1 });

  const first = await startRun(test.url, {
    steps: ['echo secret > /workspace/left-behind; echo secret > /tmp/left-behind; echo "$(hostname) $BOSUN_AGENT_ID"', 'sleep 3'],
  });
  expect(first.queue.position).toBe(0);
  const running = await waitForRun<WarmRun>(
    test.url,
    first.agentId,
    (run) => run.status === 'RUNNING' && stdout(run).length > 0,
    'the first run ran its step',
    20_000,
    WARM_RUN,
  );
  expect(running.containerId).toBe(firstPool);
  expect(running.warmStart).toBe(true);
  expect(stdout(running)).toEqual([`${firstPool.slice(0, 12)} ${first.agentId}`]);
  // The taken sandbox is the run's now: watched under the run's id.
  const during = await until('the run to be monitored', 10_000, async () => {
    const { healthReport } = await gql<PoolReport>(test.url, POOL_REPORT);
    return healthReport.containers.length > 0 ? healthReport : undefined;
  });
  expect(during.containers).toEqual([{ containerId: firstPool, agentId: first.agentId }]);
  const done = await waitForFinal<WarmRun>(test.url, first.agentId, 20_000, WARM_RUN);
  expect(done.status).toBe('SUCCEEDED');

  const secondPool = await poolReady(test.url, instanceId, [firstPool]);
  const second = await startRun(test.url, {
    steps: ['test ! -e /workspace/left-behind && test ! -e /tmp/left-behind && ls -A /workspace /tmp | grep -v : | grep . ; echo clean'],
  });
  const final = await waitForFinal<WarmRun>(test.url, second.agentId, 20_000, WARM_RUN);
  expect(final).toMatchObject({ status: 'SUCCEEDED', warmStart: true, containerId: secondPool });
  expect(secondPool).not.toBe(firstPool);
  expect(stdout(final)).toEqual(['clean']);
  // Removed after its run, as a cold sandbox is.
  expect(await allOf(instanceId)).not.toContain(firstPool);
  expect(await allOf(instanceId)).not.toContain(secondPool);
});

it('starts a run as root cold, and leaves the pool sandbox waiting', async () => {
  const test = await app();
  const pooled = await poolReady(test.url, test.app.instanceId);
  const root = await startRun(test.url, { steps: ['id -u'], user: '0' });
  const final = await waitForFinal<WarmRun>(test.url, root.agentId, 20_000, WARM_RUN);
  expect(final).toMatchObject({ status: 'SUCCEEDED', warmStart: false });
  expect(final.containerId).not.toBe(pooled);
  expect(stdout(final)).toEqual(['0']);
  expect(await frozenPoolSandboxes(test.app.instanceId)).toEqual([pooled]);
});

it('reports OOM in a warm sandbox as OOM_KILLED', async () => {
  const test = await app();
  await poolReady(test.url, test.app.instanceId);
  const hog = await startRun(test.url, { steps: ["x=$(head -c 134217728 /dev/zero | tr '\\0' a); echo survived"], memory: '32m' });
  const final = await waitForFinal<WarmRun>(test.url, hog.agentId, 30_000, WARM_RUN);
  expect(final).toMatchObject({ status: 'FAILED', failureReason: 'OOM_KILLED', warmStart: true });
  expect(final.error).toMatch(/memory limit \(32m\)/);
  expect(stdout(final)).toEqual([]);
});

it('after an engine outage, the pool sandboxes from before it are removed and the pool is rebuilt', async () => {
  const engine = new DockerProxy();
  await engine.up();
  cleanups.push(() => engine.down());
  const test = await app({ DOCKER_HOST: engine.dockerHost, HEALTH_CHECK_INTERVAL_MS: '500', DOCKER_CALL_TIMEOUT_MS: '2000' });
  const before = await poolReady(test.url, test.app.instanceId);
  await engine.down();
  // The outage as bosun sees it: its periodic health check found the engine gone and paused the queue.
  await until('bosun to notice the outage', 15_000, async () => {
    const { queueStatus } = await gql<{ queueStatus: { paused: boolean } }>(test.url, '{ queueStatus { paused } }');
    return queueStatus.paused ? true : undefined;
  });
  await engine.up();
  const after = await poolReady(test.url, test.app.instanceId, [before]);
  expect(after).not.toBe(before);
  expect(await allOf(test.app.instanceId)).toEqual([after]);
  const run = await startRun(test.url, { steps: ['true'] });
  expect(await waitForFinal<WarmRun>(test.url, run.agentId, 20_000, WARM_RUN)).toMatchObject({
    status: 'SUCCEEDED',
    warmStart: true,
    containerId: after,
  });
});

it('after kill -9 with a taken and a frozen pool sandbox, the next start leaves neither behind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-warm-pool-'));
  const instanceId = testInstanceId();
  const children: ChildServer[] = [];
  cleanups.push(async () => {
    for (const child of children) if (child.process.exitCode === null) child.process.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    await removeLeftovers(docker, instanceId);
  });
  const env = {
    BOSUN_DB_PATH: join(dir, 'bosun.db'),
    BOSUN_INSTANCE_ID: instanceId,
    WARM_POOL_SIZE: '1',
    DOCKER_MEMORY_LIMIT: '128m',
    HEALTH_CHECK_INTERVAL_MS: '1000',
    STOP_GRACE_MS: '500',
  };
  const port = await freePort();
  const first = await startChildServer(env, port);
  children.push(first);
  const firstPool = await poolReady(first.url, instanceId);
  const run = await startRun(first.url, { steps: ['sleep 60'] });
  const taken = await waitForRun<WarmRun>(
    first.url,
    run.agentId,
    (r) => r.status === 'RUNNING' && r.logs.some((l) => l.line === 'step 1: sleep 60'),
    'the run is in its step',
    20_000,
    WARM_RUN,
  );
  expect(taken).toMatchObject({ warmStart: true, containerId: firstPool });
  const refilled = await poolReady(first.url, instanceId, [firstPool]);
  const before = await allOf(instanceId);
  expect(before.sort()).toEqual([firstPool, refilled].sort());

  first.process.kill('SIGKILL');
  await first.exited;
  expect((await allOf(instanceId)).sort()).toEqual(before.sort());

  const second = await startChildServer(env, port);
  children.push(second);
  const rebuilt = await poolReady(second.url, instanceId, before);
  await until('the containers from before to be gone', 20_000, async () => {
    const ids = await allOf(instanceId);
    return before.every((id) => !ids.includes(id)) ? true : undefined;
  });
  expect(await allOf(instanceId)).toEqual([rebuilt]);
  expect(await waitForFinal<WarmRun>(second.url, run.agentId, 20_000, WARM_RUN)).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED' });

  second.process.kill('SIGTERM');
  expect(await second.exited, second.output()).toBe(0);
  expect(await allOf(instanceId)).toEqual([]);
}, 90_000);
