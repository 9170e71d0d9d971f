/**
 * Start-up recovery and engine outages, with the whole service in process on a file database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterEach, expect, it } from 'vitest';
import { DockerProxy } from '../helpers/docker-proxy.js';
import { TEST_IMAGE, createTestDocker, testInstanceId } from '../helpers/docker.js';
import { startRun, until } from '../helpers/e2e.js';
import { postGraphQL } from '../helpers/graphql-clients.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

const docker = createTestDocker();
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-recovery-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'bosun.db');
}

async function app(env: Record<string, string>): Promise<TestApp> {
  const started = await startTestApp(env);
  cleanups.push(async () => expect(await started.close()).toBe(0));
  return started;
}

/** A container that is not a sandbox of the app under test, removed after the test whatever happens. */
async function foreignContainer(labels: Record<string, string>): Promise<Docker.Container> {
  const container = await docker.createContainer({ Image: TEST_IMAGE, Cmd: ['sleep', '600'], Labels: labels, HostConfig: { NetworkMode: 'none' } });
  await container.start();
  cleanups.push(() => container.remove({ force: true }).catch(() => undefined));
  return container;
}

async function exists(container: Docker.Container): Promise<boolean> {
  return container.inspect().then(
    () => true,
    () => false,
  );
}

async function startShellRun(url: string, steps: string[]): Promise<string> {
  return (await startRun(url, { steps })).agentId;
}

/** A run as `run()` reads it. */
interface StoredRun {
  readonly id: string;
  readonly status: string;
  readonly retryOf: string | null;
  readonly logs: { readonly seq: number; readonly stream: string; readonly line: string }[];
  readonly samples: { readonly at: string; readonly cpuPercent: number; readonly memoryUsageBytes: number }[];
  readonly peak: { readonly cpuPercent: number; readonly memoryBytes: number; readonly pids: number } | null;
}

async function run(url: string, id: string): Promise<StoredRun> {
  const { body } = await postGraphQL<{ agentRun: StoredRun }>(
    url,
    `query($id: ID!) { agentRun(id: $id) { id status retryOf logs { seq stream line } samples { at cpuPercent memoryUsageBytes } peak { cpuPercent memoryBytes pids } } }`,
    { id },
  );
  expect(body.errors).toBeUndefined();
  return body.data!.agentRun;
}

it("reaps its own orphans at start and leaves another instance's and unlabelled containers alone", async () => {
  const instanceId = testInstanceId();
  const orphan = await foreignContainer({ 'bosun.managed': 'true', 'bosun.instance': instanceId, 'bosun.agent': 'lost-run' });
  const otherInstance = await foreignContainer({ 'bosun.managed': 'true', 'bosun.instance': `${instanceId}-other`, 'bosun.agent': 'x' });
  const unlabelled = await foreignContainer({});
  await app({ BOSUN_INSTANCE_ID: instanceId });
  expect(await exists(orphan)).toBe(false);
  expect(await exists(otherInstance)).toBe(true);
  expect(await exists(unlabelled)).toBe(true);
});

it("reads a run's logs, samples and peak the same before and after a restart", async () => {
  const dbPath = tempDb();
  const instanceId = testInstanceId();
  const env = { BOSUN_DB_PATH: dbPath, BOSUN_INSTANCE_ID: instanceId, RESOURCE_SAMPLE_INTERVAL_MS: '500' };
  const first = await startTestApp(env);
  const id = await startShellRun(first.url, ['seq 1 50', 'timeout 3 sh -c "while :; do :; done"; true']);
  const before = await until('the run to finish', 30_000, async () => {
    const current = await run(first.url, id);
    return current.status === 'SUCCEEDED' ? current : undefined;
  });
  expect(await first.close()).toBe(0);
  expect(before.samples.length).toBeGreaterThan(2);
  // The peak is the highest of the run's samples (not a figure of its own), and the burn shows in
  // it. How high depends on the CPU the machine had to spare, so no more than that is asked.
  expect(before.peak?.cpuPercent).toBe(Math.max(...before.samples.map((sample) => sample.cpuPercent)));
  expect(before.peak?.memoryBytes).toBe(Math.max(...before.samples.map((sample) => sample.memoryUsageBytes)));
  expect(before.peak?.cpuPercent).toBeGreaterThan(0);

  const second = await app(env);
  expect(await run(second.url, id)).toEqual(before);
});

it('starts with the engine away, says so, and reaps and runs once it is back', async () => {
  const proxy = new DockerProxy();
  cleanups.push(() => proxy.down());
  const instanceId = testInstanceId();
  const dbPath = tempDb();
  const env = { BOSUN_DB_PATH: dbPath, BOSUN_INSTANCE_ID: instanceId, DOCKER_HOST: proxy.dockerHost, HEALTH_CHECK_INTERVAL_MS: '500' };

  // A first life leaves a waiting run in the store.
  await proxy.up();
  const first = await startTestApp({ ...env, MAX_CONCURRENT_AGENTS: '1' });
  await startShellRun(first.url, ['sleep 30']);
  const waiting = await startShellRun(first.url, ['echo came-back']);
  expect(await first.close(0)).toBe(0);
  // ... and a container of its instance that nobody removed.
  const orphan = await foreignContainer({ 'bosun.managed': 'true', 'bosun.instance': instanceId, 'bosun.agent': 'lost' });

  await proxy.down();
  const second = await app(env);
  const report = await postGraphQL<{
    healthReport: { docker: { reachable: boolean; error: string | null } };
    queueStatus: { paused: boolean; queued: number };
  }>(second.url, '{ healthReport { docker { reachable error } } queueStatus { paused queued } }');
  expect(report.body.data!.healthReport.docker).toMatchObject({ reachable: false });
  expect(report.body.data!.healthReport.docker.error).toBeTruthy();
  expect(report.body.data!.queueStatus).toEqual({ paused: true, queued: 1 });
  expect(await exists(orphan)).toBe(true);

  await proxy.up();
  await until('the orphan to be reaped', 10_000, async () => ((await exists(orphan)) ? undefined : true));
  const final = await until('the waiting run to succeed', 20_000, async () => {
    const current = await run(second.url, waiting);
    return current.status === 'SUCCEEDED' ? current : undefined;
  });
  expect(final.logs.map((l) => l.line)).toContain('came-back');
});

it('retries a finished run as a new run linked to it, and refuses to retry an unfinished one', async () => {
  const test = await app({ MAX_CONCURRENT_AGENTS: '1' });
  const id = await startShellRun(test.url, ['exit 2']);
  await until('the run to fail', 20_000, async () => ((await run(test.url, id)).status === 'FAILED' ? true : undefined));
  const retried = await postGraphQL<{ retryAgent: { agentId: string; run: { retryOf: string | null; status: string } } }>(
    test.url,
    'mutation($id: ID!) { retryAgent(id: $id) { agentId run { retryOf status } } }',
    { id },
  );
  expect(retried.body.errors).toBeUndefined();
  const payload = retried.body.data!.retryAgent;
  expect(payload.agentId).not.toBe(id);
  expect(payload.run.retryOf).toBe(id);
  const blocker = await startShellRun(test.url, ['sleep 30']);
  const refused = await postGraphQL(test.url, 'mutation($id: ID!) { retryAgent(id: $id) { agentId } }', { id: blocker });
  expect(refused.body.errors?.[0]?.extensions?.['code']).toBe('INVALID_STATE');
  const unknown = await postGraphQL(test.url, 'mutation { retryAgent(id: "nope") { agentId } }');
  expect(unknown.body.errors?.[0]?.extensions?.['code']).toBe('NOT_FOUND');
});
