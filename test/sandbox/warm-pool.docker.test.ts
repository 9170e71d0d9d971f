/**
 * The warm pool on the real engine: a sandbox taken from it is the sandbox a cold start would
 * have made (inspect field by field, the cgroup files read inside, a command's env, user and
 * workspace), pool sandboxes are frozen while they wait and refilled after a take, and
 * housekeeping replaces old sandboxes and those of an image rebuilt under the same name.
 */
import type Docker from 'dockerode';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as pause } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { DockerSandbox } from '../../src/sandbox/docker-sandbox.js';
import type { SandboxLimits } from '../../src/sandbox/limits.js';
import type { CreateSandboxOptions } from '../../src/sandbox/sandbox.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { WarmPool, type WarmPoolOptions } from '../../src/sandbox/warm-pool.js';
import { createSilentLogger } from '../../src/logger.js';
import { TEST_IMAGE, createTestDocker, removeLeftovers, testInstanceId } from '../helpers/docker.js';

const MiB = 1024 ** 2;
/** What the pool makes its sandboxes with (a run's defaults). */
const POOL_LIMITS: SandboxLimits = { cpus: 1, memoryBytes: 256 * MiB, pidsLimit: 256 };
const docker = createTestDocker();
const instanceIds: string[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  let leftovers = 0;
  for (const instanceId of instanceIds) leftovers += await removeLeftovers(docker, instanceId);
  expect(leftovers).toBe(0);
});

function newPool(overrides: Partial<WarmPoolOptions<DockerSandbox>> = {}) {
  const instanceId = testInstanceId();
  instanceIds.push(instanceId);
  const manager = new SandboxManager(docker, instanceId);
  const pool = new WarmPool<DockerSandbox>({
    provider: manager,
    backend: manager,
    images: [TEST_IMAGE],
    size: 1,
    limits: POOL_LIMITS,
    user: manager.isolation.user,
    maxAgeMs: 3_600_000,
    logger: createSilentLogger(),
    ...overrides,
  });
  cleanups.push(async () => {
    await pool.close();
    await manager.disposeAll();
  });
  return { manager, pool, instanceId };
}

/** Waits (on the pool's own state, polled) until `image` has `count` ready sandboxes; returns the pool's containers then. */
async function readyCount(manager: SandboxManager, pool: WarmPool<DockerSandbox>, count: number, image = TEST_IMAGE): Promise<DockerSandbox[]> {
  const deadline = Date.now() + 30_000;
  while ((pool.status().find((status) => status.image === image)?.ready ?? 0) !== count) {
    if (Date.now() > deadline) throw new Error(`the pool did not get to ${count} ready sandbox(es) of ${image} within 30 s`);
    await pause(20);
  }
  return manager.liveSandboxes().filter((sandbox) => sandbox.spec.pool === true);
}

/** The engine's view and the cgroup freezer's (when the engine's cgroups are visible here) of a frozen container. */
async function frozen(id: string): Promise<boolean> {
  const info = await docker.getContainer(id).inspect();
  const freezer = `/sys/fs/cgroup/freezer/docker/${id}/freezer.state`;
  const state = existsSync(freezer) ? readFileSync(freezer, 'utf8').trim() : 'FROZEN';
  return info.State.Status === 'paused' && info.State.Paused && state === 'FROZEN';
}

function runOptions(runId: string, limits: SandboxLimits, extra: Partial<CreateSandboxOptions> = {}): CreateSandboxOptions {
  return { runId, image: TEST_IMAGE, limits, env: { BOSUN_AGENT_ID: runId, SHARED: 'same for both', HOME: '/tmp' }, ...extra };
}

/** Runs a command through the sandbox (as a run's step would) and returns its stdout. */
async function output(sandbox: DockerSandbox, command: string): Promise<string> {
  const lines: string[] = [];
  const { exitCode } = await sandbox.exec(command, { cwd: '/workspace', onOutput: (stream, line) => stream === 'stdout' && lines.push(line) });
  expect(exitCode, command).toBe(0);
  return lines.join('\n');
}

const CGROUP_FILES = [
  'cpu/cpu.cfs_quota_us',
  'cpu/cpu.cfs_period_us',
  'cpu/cpu.shares',
  'memory/memory.limit_in_bytes',
  'memory/memory.memsw.limit_in_bytes',
  'memory/memory.soft_limit_in_bytes',
  'memory/memory.swappiness',
  'pids/pids.max',
];

/** What a sandbox looks like to a run: its cgroup limits, its identity and privileges, env, workspace. */
/**
 * What a sandbox looks like to a run's command, in one command (a warm sandbox's first command is
 * the one started ahead of time, see prepared-command.ts): cgroup limits, identity, privileges,
 * limits of the shell, env, working directory, processes, mounts, an empty workspace.
 */
const LOOK = [
  `for f in ${CGROUP_FILES.join(' ')}; do echo "$f=$(cat /sys/fs/cgroup/$f 2>/dev/null || echo absent)"; done`,
  'for f in memory.max memory.swap.max pids.max cpu.max; do [ -e /sys/fs/cgroup/$f ] && echo "$f=$(cat /sys/fs/cgroup/$f)"; done',
  'echo "id: $(id)"; echo "pwd: $(pwd)"; echo "umask: $(umask)"',
  "grep -E '^(Uid|Gid|Groups|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status",
  'ulimit -a',
  // The engine's default hostname is the container's short id, for both: compared apart.
  'echo "hostname: $(hostname)"; env | grep -v ^HOSTNAME= | sort',
  // A name in brackets is a process with no command line: runc's init of an exec being started at
  // that moment (`[exe]`), or an earlier command's shell exiting, not yet reaped (`[sh]`). Caught by
  // chance in either container's listing; no process of the run.
  "ps -o user,args | sed 1d | grep -v -e 'ps -o' -e sed -e grep -e '^[a-z0-9]* *\\[[^]]*\\]$' | sort",
  "awk '{print $2, $3, $4}' /proc/self/mounts | grep -E ' (/tmp|/workspace|/) ' | sort",
  'echo "workspace: $(ls -A /workspace | wc -l) $(stat -c "%U:%G %a" /workspace)"; echo "tmp: $(ls -A /tmp | wc -l)"',
].join('; ');

async function lookFromInside(sandbox: DockerSandbox, runId: string): Promise<string> {
  return (await output(sandbox, LOOK)).replaceAll(runId, '<run>').replace(`hostname: ${sandbox.id.slice(0, 12)}`, 'hostname: <short id>');
}

/** Inspect without what is by nature per container (ids, times, paths, the hostname the engine derives from the id). */
function comparable(info: Docker.ContainerInspectInfo, runId: string) {
  const { Labels, Hostname, ...config } = info.Config;
  return {
    name: info.Name.replace(runId, '<run>'),
    image: info.Image,
    hostnameIsShortId: Hostname === info.Id.slice(0, 12),
    path: info.Path,
    args: info.Args,
    state: { status: info.State.Status, running: info.State.Running, paused: info.State.Paused, oomKilled: info.State.OOMKilled },
    hostConfig: info.HostConfig,
    config,
    labels: Labels,
    mounts: info.Mounts,
    restartCount: info.RestartCount,
    driver: info.Driver,
    platform: info.Platform,
    appArmorProfile: info.AppArmorProfile,
    networks: Object.keys(info.NetworkSettings.Networks),
  };
}

describe('a warm start is a cold start', () => {
  it.each([
    ['lower limits than the pool', { cpus: 0.5, memoryBytes: 128 * MiB, pidsLimit: 64 }],
    ['higher limits than the pool', { cpus: 2, memoryBytes: 512 * MiB, pidsLimit: 1000 }],
    ['the pool limits (no update)', POOL_LIMITS],
  ])('with %s: the same inspect, cgroup limits, env, user and empty workspace', async (_case, limits) => {
    const { manager, pool, instanceId } = newPool();
    pool.rebuild();
    const [pooled] = await readyCount(manager, pool, 1);
    expect(await frozen(pooled!.id)).toBe(true);

    const warm = await pool.create(runOptions(`${instanceId}-warm`, limits));
    const cold = await manager.create(runOptions(`${instanceId}-cold`, limits));
    expect(warm.id).toBe(pooled!.id);
    expect([warm.warmStart, cold.warmStart]).toEqual([true, false]);

    const [warmInfo, coldInfo] = await Promise.all([warm.inspect(), cold.inspect()]);
    const warmView = comparable(warmInfo, `${instanceId}-warm`);
    const coldView = comparable(coldInfo, `${instanceId}-cold`);
    // The one difference by design: labels cannot change after creation, so a taken pool
    // sandbox keeps its slot's name and `bosun.pool`; its name is the run's, as a cold one's.
    expect(warmView.labels).toEqual({ ...coldView.labels, 'bosun.agent': expect.stringMatching(/^pool-/) as string, 'bosun.pool': 'true' });
    expect({ ...warmView, labels: null }).toEqual({ ...coldView, labels: null });
    expect(warmView.name).toBe('/bosun-<run>');
    expect(warmInfo.HostConfig).toMatchObject({
      NanoCpus: Math.round(limits.cpus * 1e9),
      Memory: limits.memoryBytes,
      MemorySwap: limits.memoryBytes,
      PidsLimit: limits.pidsLimit,
    });
    // The run's env is given to each command, not to the container: inspect shows none of it.
    expect(warmInfo.Config.Env.some((entry) => entry.startsWith('BOSUN_AGENT_ID='))).toBe(false);

    // The first command (a warm sandbox's was started ahead of time), then an ordinary one.
    const [warmFirst, coldFirst] = await Promise.all([lookFromInside(warm, `${instanceId}-warm`), lookFromInside(cold, `${instanceId}-cold`)]);
    const [warmSecond, coldSecond] = await Promise.all([lookFromInside(warm, `${instanceId}-warm`), lookFromInside(cold, `${instanceId}-cold`)]);
    const quotaUs = Math.round(limits.cpus * 100_000);
    expect(warmFirst).toContain(`cpu/cpu.cfs_quota_us=${quotaUs}`);
    expect(warmFirst).toContain(`memory/memory.limit_in_bytes=${limits.memoryBytes}`);
    expect(warmFirst).toContain(`memory/memory.memsw.limit_in_bytes=${limits.memoryBytes}`);
    expect(warmFirst).toContain(`pids/pids.max=${limits.pidsLimit}`);
    expect(warmFirst).toContain('BOSUN_AGENT_ID=<run>');
    expect(warmFirst).toContain('hostname: <short id>');
    expect(warmFirst).toContain('workspace: 0 ');
    expect(warmFirst).toContain('pwd: /workspace');
    expect(warmFirst).toEqual(coldFirst);
    expect(warmSecond).toEqual(coldFirst);
    expect(coldSecond).toEqual(coldFirst);
  });

  it('runs the first command, started ahead of time, as an ordinary exec would: tricky env, stdin, exit code, stderr', async () => {
    const { manager, pool, instanceId } = newPool({ size: 4 });
    pool.rebuild();
    await readyCount(manager, pool, 4);
    const env = { TRICKY: 'a\\nb\nc \\ "q" \'s\' $HOME `x`\n\n', EMPTY: '', PATH: '/bin:/usr/bin' };
    const take = (name: string) => pool.create({ ...runOptions(`${instanceId}-${name}`, POOL_LIMITS), env });
    const [first, second, third, fourth] = [await take('a'), await take('b'), await take('c'), await take('d')];
    const cold = await manager.create({ ...runOptions(`${instanceId}-cold`, POOL_LIMITS), env });
    expect([first.warmStart, second.warmStart, third.warmStart]).toEqual([true, true, true]);
    const printEnv = 'printf "%s|" "$TRICKY" "$EMPTY" "$PATH"; echo; echo "${EMPTY+set}"';
    expect(await output(first, printEnv)).toBe(await output(cold, printEnv));

    // A file written by the first command, its bytes through the command's standard input.
    const content = 'line 1\nline \\2 with "quotes"\n\nno newline at the end';
    await second.writeFile('/workspace/.bosun/context.md', content);
    expect(await output(second, 'cat /workspace/.bosun/context.md; echo "[end]"')).toBe(`${content}[end]`);

    const lines: string[] = [];
    const { exitCode } = await third.exec('echo out; echo err >&2; exit 3', {
      cwd: '/workspace',
      onOutput: (stream, line) => lines.push(`${stream}:${line}`),
    });
    expect(exitCode).toBe(3);
    expect(lines.sort()).toEqual(['stderr:err', 'stdout:out']);

    // Elsewhere than the working directory: the ordinary way, and the waiting shell is gone.
    const waitingShells = "ps -o args | grep -c '[_]_bosun_l' || true";
    expect(await output(cold, waitingShells)).toBe('0');
    const elsewhere: string[] = [];
    // The unused waiting shell reads end-of-file and exits: waited for, up to 10 s.
    const gone = `for i in $(seq 100); do [ "$(${waitingShells})" = 0 ] && break; sleep 0.1; done; ${waitingShells}`;
    await fourth.exec(`pwd; ${gone}`, { cwd: '/tmp', onOutput: (_stream, line) => elsewhere.push(line) });
    expect(elsewhere).toEqual(['/tmp', '0']);
    await Promise.all([first.dispose(), second.dispose(), third.dispose(), fourth.dispose(), cold.dispose()]);
  });

  it('starts a run that asks for another user cold, and leaves the pool sandbox frozen', async () => {
    const { manager, pool, instanceId } = newPool();
    pool.rebuild();
    const [pooled] = await readyCount(manager, pool, 1);
    const root = await pool.create(runOptions(`${instanceId}-root`, POOL_LIMITS, { user: '0' }));
    expect(root.warmStart).toBe(false);
    expect(root.id).not.toBe(pooled!.id);
    expect(await output(root, 'id -u')).toBe('0');
    expect(await frozen(pooled!.id)).toBe(true);
    expect(pool.status()).toEqual([{ image: TEST_IMAGE, target: 1, ready: 1 }]);
  });
});

describe('the pool', () => {
  it('keeps its sandboxes frozen, with the hardening of a run sandbox and the pool label, and refills after a take', async () => {
    const { manager, pool, instanceId } = newPool({ size: 2 });
    pool.rebuild();
    const first = await readyCount(manager, pool, 2);
    for (const sandbox of first) {
      expect(await frozen(sandbox.id)).toBe(true);
      const info = await sandbox.inspect();
      expect(info.Config.Labels).toMatchObject({ 'bosun.managed': 'true', 'bosun.instance': instanceId, 'bosun.pool': 'true' });
      expect(info.Config.User).toBe('1000:1000');
      expect(info.HostConfig).toMatchObject({
        ReadonlyRootfs: true,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        NetworkMode: 'none',
        Init: true,
        Privileged: false,
        LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
      });
      expect(Object.keys(info.HostConfig.Tmpfs ?? {}).sort()).toEqual(['/tmp', '/workspace']);
    }
    const taken = await pool.create(runOptions(`${instanceId}-r1`, POOL_LIMITS));
    expect(first.map((sandbox) => sandbox.id)).toContain(taken.id);
    expect((await taken.inspect()).State.Status).toBe('running');
    const refilled = await readyCount(manager, pool, 2);
    const fresh = refilled.filter((sandbox) => !first.includes(sandbox) && sandbox !== taken);
    expect(fresh).toHaveLength(1);
    expect(await frozen(fresh[0]!.id)).toBe(true);
    await taken.dispose();
  });

  it('replaces a sandbox older than the maximum age', async () => {
    const { manager, pool } = newPool({ maxAgeMs: 1_000, housekeepingIntervalMs: 200 });
    pool.rebuild();
    const [old] = await readyCount(manager, pool, 1);
    const deadline = Date.now() + 30_000;
    while (manager.liveSandboxes().some((sandbox) => sandbox === old) || pool.status()[0]!.ready !== 1) {
      if (Date.now() > deadline) throw new Error('the old pool sandbox was not replaced within 30 s');
      await pause(50);
    }
    await expect(docker.getContainer(old!.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('drains and refills when the image is rebuilt under the same name', async () => {
    const tag = `bosun-warm-pool-test:${testInstanceId()}`;
    const [repo, version] = tag.split(':') as [string, string];
    await docker.getImage(TEST_IMAGE).tag({ repo, tag: version });
    const base = await docker.createContainer({ Image: TEST_IMAGE, Cmd: ['true'], Labels: { 'bosun.test-image': 'true' } });
    cleanups.push(async () => {
      await base.remove({ force: true }).catch(() => undefined);
      await docker
        .getImage(tag)
        .remove({ force: true })
        .catch(() => undefined);
    });
    const { manager, pool, instanceId } = newPool({ images: [tag] });
    pool.rebuild();
    const [before] = await readyCount(manager, pool, 1, tag);
    const oldId = (await before!.inspect()).Image;

    // The set-up builds the image again: the name now points to another id.
    const rebuilt = (await base.commit({ repo, tag: version, changes: 'LABEL rebuilt=yes' })) as { Id: string };
    expect(rebuilt.Id).not.toBe(oldId);
    await pool.housekeep();
    const deadline = Date.now() + 30_000;
    let after: DockerSandbox[] = [];
    while (!(after.length === 1 && after[0] !== before)) {
      if (Date.now() > deadline) throw new Error('the pool was not refilled from the rebuilt image within 30 s');
      after = await readyCount(manager, pool, 1, tag);
      await pause(20);
    }
    expect((await after[0]!.inspect()).Image).toBe(rebuilt.Id);
    await expect(docker.getContainer(before!.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
    const taken = await pool.create(runOptions(`${instanceId}-r1`, POOL_LIMITS, { image: tag }));
    expect(taken.warmStart).toBe(true);
    expect((await taken.inspect()).Image).toBe(rebuilt.Id);
    await taken.dispose();
  });

  it('removes every pool sandbox on close', async () => {
    const { manager, pool, instanceId } = newPool({ size: 2 });
    pool.rebuild();
    await readyCount(manager, pool, 2);
    await pool.close();
    expect(await docker.listContainers({ all: true, filters: { label: [`bosun.instance=${instanceId}`] } })).toEqual([]);
  });
});
