/**
 * bosun as a process, killed and restarted on the same database: nothing waiting is lost,
 * nothing running is left behind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { freePort, startChildServer, type ChildServer } from '../helpers/child-server.js';
import { createTestDocker, removeLeftovers, testInstanceId } from '../helpers/docker.js';
import { startRun, until } from '../helpers/e2e.js';
import { postGraphQL } from '../helpers/graphql-clients.js';

const docker = createTestDocker();
const children: ChildServer[] = [];
const cleanups: Array<() => Promise<unknown> | void> = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.process.exitCode === null) child.process.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-restart-'));
  const instanceId = testInstanceId();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => removeLeftovers(docker, instanceId));
  const env = {
    BOSUN_DB_PATH: join(dir, 'bosun.db'),
    BOSUN_INSTANCE_ID: instanceId,
    MAX_CONCURRENT_AGENTS: '2',
    DOCKER_MEMORY_LIMIT: '128m',
    HEALTH_CHECK_INTERVAL_MS: '1000',
    STOP_GRACE_MS: '500',
    SHUTDOWN_GRACE_MS: '2000',
  };
  return { env, instanceId };
}

async function start(env: Record<string, string>, port: number): Promise<ChildServer> {
  const child = await startChildServer(env, port);
  children.push(child);
  return child;
}

async function startShellRun(url: string, steps: string[]): Promise<string> {
  return (await startRun(url, { steps })).agentId;
}

interface RunView {
  id: string;
  status: string;
  failureReason: string | null;
  startedAt: string | null;
  logs: { seq: number; line: string }[];
}

async function runs(url: string): Promise<RunView[]> {
  const { body } = await postGraphQL(url, '{ agentRuns(limit: 100) { id status failureReason startedAt logs { seq line } } }');
  expect(body.errors).toBeUndefined();
  return body.data!['agentRuns'] as RunView[];
}

async function liveContainers(instanceId: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`bosun.instance=${instanceId}`] } });
  return list.map((c) => c.Id);
}

it('after SIGKILL, a restart on the same database interrupts the running runs, removes their containers and runs the waiting ones in order', async () => {
  const { env, instanceId } = setup();
  const port = await freePort();
  const first = await start(env, port);
  const running = [await startShellRun(first.url, ['sleep 60']), await startShellRun(first.url, ['sleep 60'])];
  const waiting = [];
  for (let i = 1; i <= 3; i += 1) waiting.push(await startShellRun(first.url, [`echo waited-${i}`]));
  // Both steps have begun (and their log lines are in the store) before the kill.
  await until('both running runs to be inside their step', 20_000, async () => {
    const list = await runs(first.url);
    const started = list.filter((run) => running.includes(run.id) && run.logs.some((l) => l.line === 'step 1: sleep 60'));
    return started.length === 2 ? true : undefined;
  });
  const before = await liveContainers(instanceId);
  expect(before).toHaveLength(2);

  first.process.kill('SIGKILL');
  await first.exited;
  expect(await liveContainers(instanceId)).toHaveLength(2);

  const restartedAt = Date.now();
  const second = await start(env, port);
  await until('the containers from before to be gone', 10_000 - (Date.now() - restartedAt), async () => {
    const ids = await liveContainers(instanceId);
    return before.every((id) => !ids.includes(id)) ? true : undefined;
  });
  const all = await until('every run to finish', 30_000, async () => {
    const list = await runs(second.url);
    return list.length === 5 && list.every((run) => !['QUEUED', 'RUNNING'].includes(run.status)) ? list : undefined;
  });
  const byId = new Map(all.map((run) => [run.id, run]));
  for (const id of running) {
    expect(byId.get(id)).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED' });
  }
  const waited = waiting.map((id) => byId.get(id)!);
  expect(waited.map((run) => run.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
  const starts = waited.map((run) => Date.parse(run.startedAt!));
  expect([...starts].sort((a, b) => a - b)).toEqual(starts);
  waited.forEach((run, i) => expect(run.logs.map((l) => l.line)).toContain(`waited-${i + 1}`));
  // Logs written before the kill survived it.
  for (const id of running) expect(byId.get(id)!.logs.map((l) => l.line)).toContain('step 1: sleep 60');
  expect(await liveContainers(instanceId)).toEqual([]);
}, 90_000);

it('on SIGTERM, waits out the grace, stops running runs, exits 0, and keeps a waiting run for the next start', async () => {
  const { env, instanceId } = setup();
  const port = await freePort();
  const first = await start(env, port);
  const running = [await startShellRun(first.url, ['sleep 60']), await startShellRun(first.url, ['sleep 60'])];
  const waiting = await startShellRun(first.url, ['echo after-restart']);
  await until('two running containers', 20_000, async () => ((await liveContainers(instanceId)).length === 2 ? true : undefined));

  const signalledAt = Date.now();
  first.process.kill('SIGTERM');
  const code = await first.exited;
  expect(code, first.output()).toBe(0);
  expect(Date.now() - signalledAt).toBeLessThan(2000 + 5000);
  expect(await liveContainers(instanceId)).toEqual([]);

  const second = await start(env, port);
  const final = await until('the waiting run to succeed', 30_000, async () => {
    const run = (await runs(second.url)).find((r) => r.id === waiting);
    return run?.status === 'SUCCEEDED' ? run : undefined;
  });
  expect(final.logs.map((l) => l.line)).toContain('after-restart');
  const list = await runs(second.url);
  for (const id of running) expect(list.find((r) => r.id === id)).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED' });
}, 90_000);

it('fails the stored waiting runs that a lowered MAX_QUEUE_LENGTH cannot take with QUEUE_FULL, and runs the rest', async () => {
  const { env } = setup();
  const port = await freePort();
  const first = await start({ ...env, MAX_CONCURRENT_AGENTS: '1', MAX_QUEUE_LENGTH: '3' }, port);
  await startShellRun(first.url, ['sleep 60']);
  const waiting: string[] = [];
  for (let i = 1; i <= 3; i += 1) waiting.push(await startShellRun(first.url, [`echo waited-${i}`]));
  first.process.kill('SIGTERM');
  expect(await first.exited, first.output()).toBe(0);

  const second = await start({ ...env, MAX_CONCURRENT_AGENTS: '1', MAX_QUEUE_LENGTH: '1' }, port);
  const all = await until('the first waiting run to finish', 30_000, async () => {
    const list = await runs(second.url);
    return list.find((run) => run.id === waiting[0])?.status === 'SUCCEEDED' ? list : undefined;
  });
  const byId = new Map(all.map((run) => [run.id, run]));
  for (const id of waiting.slice(1)) expect(byId.get(id)).toMatchObject({ status: 'FAILED', failureReason: 'QUEUE_FULL' });
  expect(second.output()).not.toMatch(/uncaught|unhandled/i);
}, 90_000);
