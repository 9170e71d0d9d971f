/**
 * The cgroup file sampler against the real engine, on the engine's host (where the docker test
 * project runs): it finds a real sandbox's cgroup by convention and through its process, and what
 * it reads agrees with `docker stats --no-stream` and with the limits `docker inspect` shows.
 *
 * The machine may be loaded by other work, so nothing depends on the CPU the burner gets: its CPU
 * quota bounds both figures from above, and docker stats' figure is compared with ours over
 * readings close in time, with a wide margin.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { CgroupFileSampler } from '../../src/monitor/cgroup-file-sampler.js';
import { CgroupLayout } from '../../src/monitor/cgroup-layout.js';
import { StatsStreamSupervisor } from '../../src/monitor/stats-stream-supervisor.js';
import type { DockerSandbox } from '../../src/sandbox/docker-sandbox.js';
import type { ResourceStats } from '../../src/sandbox/resource-stats.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { TEST_IMAGE, createTestDocker, removeLeftovers, testInstanceId } from '../helpers/docker.js';
import { fakeMonitorLogger } from './fake-monitor-logger.js';

const run = promisify(execFile);
const MiB = 1024 ** 2;
const LIMITS = { cpus: 0.5, memoryBytes: 128 * MiB, pidsLimit: 64 };
/** 24 MiB held by one process (dd's buffer, stuck writing to a pipe nobody reads). */
const HOLD_24_MIB = 'dd if=/dev/zero bs=25165824 count=1 2>/dev/null | sleep 2147483647';
const BURN_CPU = 'while :; do :; done';

let docker: Docker;
let manager: SandboxManager;
const instanceId = testInstanceId();
const samplers: CgroupFileSampler[] = [];
const commands: Array<{ stop: AbortController; done: Promise<unknown> }> = [];

beforeAll(() => {
  docker = createTestDocker();
  manager = new SandboxManager(docker, instanceId);
});

afterEach(async () => {
  await Promise.all(samplers.splice(0).map((sampler) => sampler.close()));
  for (const command of commands) command.stop.abort();
  await Promise.all(commands.splice(0).map((command) => command.done));
  await manager.disposeAll();
});

afterAll(async () => {
  expect(await removeLeftovers(docker, instanceId)).toBe(0);
});

function runInBackground(sandbox: DockerSandbox, command: string): void {
  const stop = new AbortController();
  commands.push({ stop, done: sandbox.exec(command, { signal: stop.signal }).catch(() => undefined) });
}

function newSampler() {
  const layout = CgroupLayout.detect();
  // The docker project runs on the engine's host: the cgroup hierarchy is there to read.
  expect(layout, 'a readable cgroup hierarchy on the engine’s host').not.toBeNull();
  const logger = fakeMonitorLogger();
  const sampler = new CgroupFileSampler({
    layout: layout!,
    placement: (containerId, signal) => manager.cgroupPlacement(containerId, signal),
    fallback: new StatsStreamSupervisor({ source: manager, logger }),
    intervalMs: 1000,
    logger,
  });
  samplers.push(sampler);
  return { layout: layout!, sampler, logger };
}

/** `docker stats --no-stream` of one container, its figures in bytes and percent. */
async function dockerStats(id: string): Promise<{ cpuPercent: number; memoryBytes: number; memoryLimitBytes: number; pids: number }> {
  const { stdout } = await run('docker', ['stats', '--no-stream', '--format', '{{json .}}', id]);
  const row = JSON.parse(stdout) as { CPUPerc: string; MemUsage: string; PIDs: string };
  const [usage, limit] = row.MemUsage.split(' / ');
  return { cpuPercent: Number.parseFloat(row.CPUPerc), memoryBytes: bytes(usage!), memoryLimitBytes: bytes(limit!), pids: Number(row.PIDs) };
}

/** go-units' binary sizes as docker stats prints them (`24.5MiB`). */
function bytes(text: string): number {
  const match = /^([\d.]+)\s*(B|KiB|MiB|GiB|TiB)$/.exec(text.trim());
  if (match === null) throw new Error(`not a size: ${text}`);
  const unit = { B: 1, KiB: 1024, MiB: MiB, GiB: 1024 * MiB, TiB: 1024 * 1024 * MiB }[match[2] as 'B'];
  return Number(match[1]) * unit;
}

it('finds a sandbox’s cgroup from its id alone, and the same through its process', async () => {
  const { layout } = newSampler();
  const sandbox = await manager.create({ runId: `${instanceId}-a`, image: TEST_IMAGE, limits: LIMITS });
  const byConvention = layout.locate(sandbox.id);
  expect(byConvention).not.toBeNull();
  const placement = await manager.cgroupPlacement(sandbox.id);
  expect(placement.pid).toBeGreaterThan(0);
  expect(layout.ofProcess(placement.pid!)).toEqual(byConvention);
});

it('reads what docker stats shows, and the limits docker inspect shows', async () => {
  const { sampler, logger } = newSampler();
  const sandbox = await manager.create({ runId: `${instanceId}-b`, image: TEST_IMAGE, limits: LIMITS });
  runInBackground(sandbox, HOLD_24_MIB);
  runInBackground(sandbox, BURN_CPU);
  const readings: ResourceStats[] = [];
  sampler.open(sandbox.id, { onStats: (stats) => readings.push(stats) });
  expect(sampler.sourceOf(sandbox.id)).toBe('CGROUP_FILES');
  // The memory is held and the processes are up.
  await vi.waitFor(() => expect(readings.at(-1)?.memoryUsageBytes ?? 0).toBeGreaterThan(24 * MiB), { timeout: 15_000, interval: 200 });

  const inspect = await docker.getContainer(sandbox.id).inspect();
  const latest = readings.at(-1)!;
  expect(latest.memoryLimitBytes).toBe(inspect.HostConfig.Memory);
  expect(latest.pidsLimit).toBe(inspect.HostConfig.PidsLimit);

  // Ours just before and after docker's: memory and processes do not move, CPU stays near the quota.
  const before = readings.length;
  const theirs = await dockerStats(sandbox.id);
  await vi.waitFor(() => expect(readings.length).toBeGreaterThan(before), { timeout: 5_000, interval: 100 });
  const ours = readings.slice(Math.max(0, before - 1));
  expect(theirs.memoryLimitBytes).toBe(latest.memoryLimitBytes);
  for (const reading of ours) {
    expect(reading.pids).toBe(theirs.pids);
    // docker prints 3 significant digits (e.g. 24.6MiB): well within 2 MiB.
    expect(Math.abs(reading.memoryUsageBytes - theirs.memoryBytes)).toBeLessThan(2 * MiB);
    // A 0.5-CPU quota holds both at 50 % or below (a reading window may overrun the period a little).
    expect(reading.cpuPercent).toBeLessThanOrEqual(55);
    expect(Math.abs(reading.cpuPercent - theirs.cpuPercent), `ours ${reading.cpuPercent} %, docker stats ${theirs.cpuPercent} %`).toBeLessThan(20);
  }
  expect(theirs.cpuPercent).toBeLessThanOrEqual(55);
  expect(logger.warn).not.toHaveBeenCalled();
}, 60_000);

it('a removed container’s files are gone: it reads as broken, logged at debug only', async () => {
  const { sampler, logger } = newSampler();
  const sandbox = await manager.create({ runId: `${instanceId}-c`, image: TEST_IMAGE, limits: LIMITS });
  const readings: ResourceStats[] = [];
  sampler.open(sandbox.id, { onStats: (stats) => readings.push(stats) });
  sampler.sampleNow();
  expect(readings).toHaveLength(1);
  await sandbox.stop({ graceMs: 0 });
  await sandbox.dispose();
  sampler.sampleNow();
  expect(sampler.isBroken(sandbox.id)).toBe(true);
  expect(sampler.openCount()).toBe(0);
  expect(logger.debug).toHaveBeenCalledWith(expect.objectContaining({ containerId: sandbox.id }), 'cgroup files gone (container stopped)');
  expect(logger.warn).not.toHaveBeenCalled();
}, 30_000);
