import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DockerSandbox } from '../../src/sandbox/docker-sandbox.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { SandboxError } from '../../src/sandbox/sandbox-errors.js';
import type { ResourceStats } from '../../src/sandbox/resource-stats.js';
import { TEST_IMAGE, containersOf, createTestDocker, readInside, removeLeftovers, testInstanceId } from '../helpers/docker.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const DEFAULT_LIMITS = { cpus: 1, memoryBytes: 2 * GiB, pidsLimit: 1000 };

let docker: Docker;
let manager: SandboxManager;
const instanceId = testInstanceId();
let agentSeq = 0;

function create(limits = DEFAULT_LIMITS, env?: Record<string, string>): Promise<DockerSandbox> {
  agentSeq += 1;
  return manager.create({ runId: `${instanceId}-a${agentSeq}`, image: TEST_IMAGE, limits, ...(env ? { env } : {}) });
}

/** Reads stats frames until `predicate` holds for `settle` frames in a row (or the budget runs out). */
async function settledStats(sandbox: DockerSandbox, predicate: (s: ResourceStats) => boolean, settle = 3, budget = 15): Promise<ResourceStats[]> {
  const seen: ResourceStats[] = [];
  const controller = new AbortController();
  let inRow = 0;
  for await (const stats of sandbox.streamResourceStats(controller.signal)) {
    seen.push(stats);
    inRow = predicate(stats) ? inRow + 1 : 0;
    if (inRow >= settle || seen.length >= budget) break;
  }
  controller.abort();
  return seen;
}

beforeAll(() => {
  docker = createTestDocker();
  manager = new SandboxManager(docker, instanceId);
});

afterEach(async () => {
  await manager.disposeAll();
});

afterAll(async () => {
  expect(await removeLeftovers(docker, instanceId)).toBe(0);
});

describe('limits', () => {
  it('applies the default limits, visible in inspect and in the cgroup files inside', async () => {
    const sandbox = await create();
    const info = await sandbox.inspect();
    expect(info.HostConfig.NanoCpus).toBe(1_000_000_000);
    expect(info.HostConfig.Memory).toBe(2147483648);
    expect(info.HostConfig.MemorySwap).toBe(2147483648);
    expect(info.HostConfig.PidsLimit).toBe(1000);
    expect(info.HostConfig.NetworkMode).toBe('none');
    expect(info.HostConfig.Init).toBe(true);
    expect(info.Config.Labels).toMatchObject({ 'bosun.managed': 'true', 'bosun.instance': instanceId });
    const inside = await readInside(
      docker,
      sandbox.id,
      'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max',
    );
    expect(inside.split(/\s+/)).toEqual(['100000', '100000', '2147483648', '1000']);
  });

  it('applies overrides', async () => {
    const sandbox = await create({ cpus: 0.5, memoryBytes: 256 * MiB, pidsLimit: 128 });
    const info = await sandbox.inspect();
    expect(info.HostConfig.NanoCpus).toBe(500_000_000);
    expect(info.HostConfig.Memory).toBe(268435456);
    expect(info.HostConfig.PidsLimit).toBe(128);
    const inside = await readInside(
      docker,
      sandbox.id,
      'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max',
    );
    expect(inside.split(/\s+/)).toEqual(['50000', '268435456', '128']);
  });
});

describe('exec', () => {
  it('returns exit codes 0 and non-zero from the exec inspect', async () => {
    const sandbox = await create();
    expect(await sandbox.exec('true')).toEqual({ exitCode: 0 });
    expect(await sandbox.exec('exit 3')).toEqual({ exitCode: 3 });
    expect(await sandbox.exec('kill -9 $$')).toEqual({ exitCode: 137 });
  });

  it('streams stdout and stderr apart, each in order', async () => {
    const sandbox = await create();
    const lines: Array<[string, string]> = [];
    await sandbox.exec('for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf tail', {
      onOutput: (stream, line) => lines.push([stream, line]),
    });
    expect(lines.filter(([s]) => s === 'stdout').map(([, l]) => l)).toEqual(['out1', 'out2', 'out3', 'tail']);
    expect(lines.filter(([s]) => s === 'stderr').map(([, l]) => l)).toEqual(['err1', 'err2', 'err3']);
  });

  it('loses none of 10,000 lines', async () => {
    const sandbox = await create();
    const lines: string[] = [];
    const result = await sandbox.exec('seq 1 10000', { onOutput: (_s, line) => lines.push(line) });
    expect(result.exitCode).toBe(0);
    expect(lines).toHaveLength(10_000);
    expect(lines.every((line, i) => line === String(i + 1))).toBe(true);
  });

  it('passes env and cwd, and the container env', async () => {
    const sandbox = await create(DEFAULT_LIMITS, { FROM_CONTAINER: 'c' });
    const lines: string[] = [];
    await sandbox.exec('echo "$FROM_CONTAINER $FROM_EXEC $(pwd)"', {
      env: { FROM_EXEC: 'e' },
      cwd: '/tmp',
      onOutput: (_s, line) => lines.push(line),
    });
    expect(lines).toEqual(['c e /tmp']);
  });

  it('writes files owned by the container user', async () => {
    const sandbox = await create();
    await sandbox.writeFile('/workspace/.bosun/context.md', '# context\nline two\n');
    expect(await readInside(docker, sandbox.id, 'cat /workspace/.bosun/context.md; stat -c %u /workspace/.bosun/context.md')).toBe(
      '# context\nline two\n1000',
    );
  });

  it('stops waiting on abort, and stop() ends a command that ignores SIGTERM by killing the container', async () => {
    const sandbox = await create();
    const controller = new AbortController();
    const running = sandbox.exec("trap '' TERM; sleep 1000", { signal: controller.signal });
    await delay(300);
    controller.abort(new Error('deadline'));
    await expect(running).rejects.toThrow('deadline');
    const started = Date.now();
    await sandbox.stop({ graceMs: 500 });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await sandbox.inspect()).State.Running).toBe(false);
  });

  it('stops waiting when the signal fires while the exec is still being created', async () => {
    const sandbox = await create();
    const controller = new AbortController();
    const running = sandbox.exec('sleep 1000', { signal: controller.signal });
    controller.abort(new Error('cancelled early'));
    await expect(running).rejects.toThrow('cancelled early');
    await sandbox.stop({ graceMs: 500 });
  });

  it('stop() lets a command that obeys SIGTERM end without killing it early', async () => {
    const sandbox = await create();
    const controller = new AbortController();
    const running = sandbox.exec("trap 'echo got-term; exit 0' TERM; while :; do sleep 0.1; done", {
      signal: controller.signal,
    });
    await delay(300);
    controller.abort();
    await running.catch(() => undefined);
    const started = Date.now();
    await sandbox.stop({ graceMs: 10_000 });
    // Stop returned long before the grace ran out: the command ended on SIGTERM.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await sandbox.inspect()).State.Running).toBe(false);
  });
});

/** Polls the sandbox until every path exists (the commands that write them have started). */
async function waitForFiles(sandbox: DockerSandbox, paths: readonly string[]): Promise<void> {
  const test = paths.map((path) => `[ -e ${path} ]`).join(' && ');
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await delay(50)) {
    if ((await sandbox.exec(test)).exitCode === 0) return;
  }
  throw new Error(`${paths.join(', ')} did not appear`);
}

/** The container's processes as `docker top` lists them (its command lines). */
async function topCommands(sandbox: DockerSandbox): Promise<string[]> {
  // dockerode types top() as any; the engine answers titles and one row of columns per process.
  const top = (await docker.getContainer(sandbox.id).top()) as { Titles: string[]; Processes: string[][] };
  const column = top.Titles.indexOf('CMD');
  return top.Processes.map((process) => process[column]!);
}

describe('stopProcesses', () => {
  it('stops every process but init and the keep-alive (TERM, the grace, KILL), and keeps the container and its files', async () => {
    const sandbox = await create();
    // A command that was given up on (its caller aborted) and ignores SIGTERM: KILL ends it.
    const abandoned = new AbortController();
    const stubborn = sandbox.exec("echo $$ > /workspace/stubborn.pid; trap '' TERM; sleep 1000", { signal: abandoned.signal });
    // A command still followed that saves its work on SIGTERM, then exits.
    const tidy = sandbox.exec("echo $$ > /workspace/tidy.pid; trap 'echo saved > /workspace/saved; exit 0' TERM; while :; do sleep 0.05; done");
    // A daemon that left its command's session, and a process in a fresh session of its own.
    await sandbox.exec('setsid sh -c \'trap "" TERM; echo $$ > /workspace/daemon.pid; exec sleep 1002\' > /dev/null 2>&1 &');
    await waitForFiles(sandbox, ['/workspace/stubborn.pid', '/workspace/tidy.pid', '/workspace/daemon.pid']);
    abandoned.abort(new Error('given up'));
    await expect(stubborn).rejects.toThrow('given up');
    const pids = await readInside(docker, sandbox.id, 'cat /workspace/stubborn.pid /workspace/tidy.pid /workspace/daemon.pid');
    expect(pids.split(/\s+/)).toHaveLength(3);
    expect((await topCommands(sandbox)).length).toBeGreaterThan(2);

    await sandbox.stopProcesses({ graceMs: 2_000 });

    // The command that was followed settles with its own exit code, after its trap ran.
    expect(await tidy).toEqual({ exitCode: 0 });
    // Every process that was started is gone, even those that ignored SIGTERM or left their session.
    for (const pid of pids.split(/\s+/)) expect(await readInside(docker, sandbox.id, `[ -e /proc/${pid} ] && echo alive || echo gone`)).toBe('gone');
    // Only the container's own two are left, so the container (and its tmpfs) is still there.
    expect(await topCommands(sandbox)).toEqual([expect.stringMatching(/^\/sbin\/docker-init -- /) as string, 'sleep 2147483647']);
    expect((await sandbox.inspect()).State.Running).toBe(true);
    expect(await readInside(docker, sandbox.id, 'cat /workspace/saved')).toBe('saved');
    // It still takes commands and file calls (an artifact copy comes next).
    expect(await sandbox.exec('echo again > /workspace/again')).toEqual({ exitCode: 0 });
    expect(await sandbox.listFiles('/workspace/saved')).toMatchObject([{ path: '/workspace/saved', type: 'FILE' }]);
  });

  it('kills a fork bomb without sparing a fork, and keeps the container', async () => {
    const sandbox = await create({ cpus: 0.5, memoryBytes: 256 * MiB, pidsLimit: 200 });
    const abandoned = new AbortController();
    void sandbox
      .exec('touch /workspace/bomb; while :; do sh -c \'trap "" TERM; sleep 1000\' & done', { signal: abandoned.signal })
      .catch(() => undefined);
    await waitForFiles(sandbox, ['/workspace/bomb']);
    abandoned.abort();
    await sandbox.stopProcesses({ graceMs: 200 });
    expect(await topCommands(sandbox)).toEqual([expect.stringMatching(/^\/sbin\/docker-init -- /) as string, 'sleep 2147483647']);
    expect((await sandbox.inspect()).State.Running).toBe(true);
  });

  it('does nothing to a sandbox with nothing running, and never throws for one already gone', async () => {
    const sandbox = await create();
    await sandbox.stopProcesses({ graceMs: 100 });
    expect(await topCommands(sandbox)).toHaveLength(2);
    await docker.getContainer(sandbox.id).kill();
    await sandbox.stopProcesses({ graceMs: 100 });
  });
});

describe('waitForExit', () => {
  it('resolves when the container is killed from outside, with its exit code', async () => {
    const sandbox = await create();
    const watching = sandbox.waitForExit(new AbortController().signal);
    await docker.getContainer(sandbox.id).kill();
    expect(await watching).toEqual({ exitCode: 137, description: `the container ${sandbox.name} exited with code 137` });
  });

  it('rejects with the reason of its signal, and leaves the container running', async () => {
    const sandbox = await create();
    const controller = new AbortController();
    const watching = sandbox.waitForExit(controller.signal);
    controller.abort(new Error('run over'));
    await expect(watching).rejects.toThrow('run over');
    expect((await sandbox.inspect()).State.Running).toBe(true);
  });
});

describe('stats', () => {
  it('reads a busy loop at cpus 0.5 between 40 and 60 %', async () => {
    const sandbox = await create({ cpus: 0.5, memoryBytes: 256 * MiB, pidsLimit: 100 });
    void sandbox.exec('while :; do :; done').catch(() => undefined);
    const seen = await settledStats(sandbox, (s) => s.cpuPercent > 40 && s.cpuPercent < 60, 3, 20);
    const last = seen.at(-1)!;
    expect(last.cpuPercent).toBeGreaterThan(40);
    expect(last.cpuPercent).toBeLessThan(60);
    expect(last.pidsLimit).toBe(100);
    expect(last.memoryLimitBytes).toBe(256 * MiB);
  });

  it('ends when the container stops', async () => {
    const sandbox = await create();
    const controller = new AbortController();
    const frames: ResourceStats[] = [];
    const reading = (async () => {
      for await (const stats of sandbox.streamResourceStats(controller.signal)) frames.push(stats);
    })();
    await delay(1500);
    await sandbox.kill();
    await reading;
    expect(frames.length).toBeGreaterThan(0);
    controller.abort();
  });

  it('reads an idle container under 5 %', async () => {
    const sandbox = await create();
    const seen = await settledStats(sandbox, () => true, 3, 3);
    expect(seen.slice(1).every((s) => s.cpuPercent < 5)).toBe(true);
    const one = await sandbox.getResourceStats();
    expect(one.cpuPercent).toBeLessThan(5);
    expect(one.pids).toBeGreaterThanOrEqual(1);
  });

  it('follows a process that holds 64 MiB', async () => {
    const sandbox = await create({ cpus: 1, memoryBytes: 512 * MiB, pidsLimit: 100 });
    const before = await settledStats(sandbox, () => true, 2, 2);
    void sandbox.exec("x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo held; while :; do sleep 1; done").catch(() => undefined);
    const held = await settledStats(sandbox, (s) => s.memoryUsageBytes > 64 * MiB, 2, 20);
    expect(before.at(-1)!.memoryUsageBytes).toBeLessThan(16 * MiB);
    expect(held.at(-1)!.memoryUsageBytes).toBeGreaterThan(64 * MiB);
    expect(held.at(-1)!.memoryPercent).toBeGreaterThan(12.5);
    await sandbox.signalProcesses('TERM');
    const released = await settledStats(sandbox, (s) => s.memoryUsageBytes < 16 * MiB, 1, 20);
    expect(released.at(-1)!.memoryUsageBytes).toBeLessThan(16 * MiB);
  });
});

describe('faults', () => {
  it('reports a memory hog at 32m as OOM-killed', async () => {
    const sandbox = await create({ cpus: 1, memoryBytes: 32 * MiB, pidsLimit: 100 });
    expect(await sandbox.limitEvents()).toEqual({ oomKills: 0, pidsLimitHits: 0 });
    const result = await sandbox.exec("x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived");
    expect(result.exitCode).toBe(137);
    expect((await sandbox.limitEvents()).oomKills).toBeGreaterThanOrEqual(1);
  });

  it('contains a fork bomb at pids 64 while the engine keeps answering', async () => {
    const sandbox = await create({ cpus: 0.5, memoryBytes: 256 * MiB, pidsLimit: 64 });
    const controller = new AbortController();
    // A shell that keeps forking when a fork fails presses on the limit the whole time.
    void sandbox.exec('while :; do sleep 1000 & done', { signal: controller.signal }).catch(() => undefined);
    await delay(2000);
    const started = Date.now();
    await Promise.race([docker.info(), delay(2000).then(() => Promise.reject(new Error('docker info took over 2 s')))]);
    expect(Date.now() - started).toBeLessThan(2000);
    const seen = await settledStats(sandbox, () => true, 3, 3);
    expect(Math.max(...seen.map((s) => s.pids))).toBeLessThanOrEqual(64);
    expect(Math.max(...seen.map((s) => s.pids))).toBeGreaterThan(48);
    controller.abort();
    await sandbox.stop({ graceMs: 500 });
    expect((await sandbox.inspect()).State.Running).toBe(false);
  });

  it('leaves nothing behind for an image that does not exist', async () => {
    const runId = `${instanceId}-missing`;
    const error = await manager.create({ runId, image: 'bosun-no-such-image:never', limits: DEFAULT_LIMITS }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SandboxError);
    expect((error as SandboxError).code).toBe('IMAGE_NOT_FOUND');
    expect(await containersOf(docker, instanceId, runId)).toEqual([]);
  });

  it('leaves nothing behind when creation is aborted', async () => {
    const controller = new AbortController();
    const runId = `${instanceId}-aborted`;
    const creating = manager.create({ runId, image: TEST_IMAGE, limits: DEFAULT_LIMITS, signal: controller.signal });
    controller.abort(new Error('cancelled'));
    await expect(creating).rejects.toThrow('cancelled');
    expect(await containersOf(docker, instanceId, runId)).toEqual([]);
  });

  it('removes the container on dispose, on success and after a failure, and dispose is idempotent', async () => {
    const ok = await create();
    await ok.exec('true');
    const failed = await create();
    await failed.exec('exit 1');
    await failed.kill();
    await Promise.all([ok.dispose(), failed.dispose(), failed.dispose()]);
    expect(await containersOf(docker, instanceId)).toEqual([]);
    expect(manager.liveSandboxes()).toHaveLength(0);
  });

  it('reports a command whose container is killed under it', async () => {
    const sandbox = await create();
    const running = sandbox.exec('sleep 1000');
    await delay(300);
    await docker.getContainer(sandbox.id).kill();
    const outcome = await running.then(
      (result) => result.exitCode,
      (error: unknown) => error,
    );
    // Either the engine reports the killed process's code or the container as gone: never success.
    if (typeof outcome === 'number') expect(outcome).toBe(137);
    else expect((outcome as SandboxError).code).toBe('CONTAINER_GONE');
  });
});
