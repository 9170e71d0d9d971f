/**
 * The sandbox is closed by default: checked through `inspect` and from inside the container.
 */
import { statSync } from 'node:fs';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DockerSandbox } from '../../src/sandbox/docker-sandbox.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { TEST_IMAGE, createTestDocker, removeLeftovers, testInstanceId } from '../helpers/docker.js';

const MiB = 1024 ** 2;
const LIMITS = { cpus: 1, memoryBytes: 256 * MiB, pidsLimit: 128 };
let docker: Docker;
let manager: SandboxManager;
const instanceId = testInstanceId();
let seq = 0;

beforeAll(() => {
  docker = createTestDocker();
  manager = new SandboxManager(docker, instanceId, {
    isolation: { user: '1000:1000', tmpBytes: 16 * MiB, workspaceBytes: 32 * MiB, network: null },
  });
});
afterEach(() => manager.disposeAll());
afterAll(async () => expect(await removeLeftovers(docker, instanceId)).toBe(0));

function create(limits = LIMITS): Promise<DockerSandbox> {
  seq += 1;
  return manager.create({ runId: `${instanceId}-${seq}`, image: TEST_IMAGE, limits });
}

async function run(sandbox: DockerSandbox, command: string): Promise<{ exitCode: number; out: string }> {
  let out = '';
  const { exitCode } = await sandbox.exec(command, { onOutput: (_stream, line) => (out += `${line}\n`) });
  return { exitCode, out: out.trim() };
}

describe('inspect', () => {
  it('drops every capability, forbids new privileges, keeps the default seccomp profile, and mounts nothing from the host', async () => {
    const sandbox = await create();
    const info = await sandbox.inspect();
    const host = info.HostConfig;
    expect(host.CapDrop).toEqual(['ALL']);
    expect(host.CapAdd ?? []).toEqual([]);
    expect(host.SecurityOpt).toEqual(['no-new-privileges']);
    // dockerode types SecurityOpt `any`: the engine's JSON has a list of strings.
    const securityOpt = (host.SecurityOpt ?? []) as string[];
    expect(securityOpt.some((opt) => opt.includes('unconfined'))).toBe(false);
    expect(host.Privileged).toBe(false);
    expect(host.ReadonlyRootfs).toBe(true);
    expect(host.NetworkMode).toBe('none');
    expect(host.Init).toBe(true);
    expect(host.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } });
    expect(info.Config.User).toBe('1000:1000');
    expect(host.Binds ?? []).toEqual([]);
    expect(info.Mounts.filter((m) => m.Type !== 'tmpfs')).toEqual([]);
    expect(JSON.stringify(info)).not.toContain('docker.sock');
    expect((host as { Tmpfs?: Record<string, string> }).Tmpfs).toEqual({
      '/tmp': `rw,exec,nosuid,nodev,size=${16 * MiB},mode=1777`,
      '/workspace': `rw,exec,nosuid,nodev,size=${32 * MiB},uid=1000,gid=1000,mode=0755`,
    });
  });
});

describe('from inside', () => {
  it('runs as a non-root user that cannot write to /, mount or unshare', async () => {
    const sandbox = await create();
    expect((await run(sandbox, 'id -u')).out).toBe('1000');
    const root = await run(sandbox, 'touch /bosun-escape 2>&1');
    expect(root.exitCode).not.toBe(0);
    expect(root.out).toMatch(/Read-only file system/);
    expect((await run(sandbox, 'mount -t tmpfs none /workspace 2>&1')).exitCode).not.toBe(0);
    expect((await run(sandbox, 'unshare -r true 2>&1')).exitCode).not.toBe(0);
    expect((await run(sandbox, 'unshare -U true 2>&1')).exitCode).not.toBe(0);
    expect((await run(sandbox, 'echo ok > /workspace/f && cat /workspace/f')).out).toBe('ok');
  });

  it('fills /tmp to ENOSPC at its cap', async () => {
    const sandbox = await create();
    const fill = await run(sandbox, 'dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>&1; stat -c %s /tmp/fill');
    expect(fill.out).toMatch(/No space left on device/);
    expect(Number(fill.out.split('\n').at(-1))).toBeLessThanOrEqual(16 * MiB);
  });

  it('has no network interface but loopback', async () => {
    const sandbox = await create();
    expect((await run(sandbox, 'ls /sys/class/net')).out).toBe('lo');
  });

  it('stops a fork bomb at the pids limit while another sandbox keeps its speed', async () => {
    const worker = await create();
    const loop = 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done';
    const timed = async () => {
      const started = process.hrtime.bigint();
      await run(worker, loop);
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    const baselineMs = Math.min(await timed(), await timed());
    const bomb = await create({ cpus: 0.5, memoryBytes: 128 * MiB, pidsLimit: 64 });
    const controller = new AbortController();
    void bomb.exec('while :; do sleep 1000 & done', { signal: controller.signal }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const duringMs = Math.min(await timed(), await timed());
    const pids = (await bomb.getResourceStats()).pids;
    controller.abort();
    await bomb.stop({ graceMs: 200 });
    expect(pids).toBeLessThanOrEqual(64);
    expect(pids).toBeGreaterThan(48);
    // Isolation, not a benchmark: the bomb must not starve a neighbour. The bound is loose on purpose.
    expect(duringMs).toBeLessThan(baselineMs * 3);
  });

  it('caps the container log on the host: 1 GB written to the main output leaves at most 30 MB', async () => {
    const sandbox = await create({ cpus: 1, memoryBytes: 256 * MiB, pidsLimit: 64 });
    // PID 1's output is what Docker's log driver records; exec output is never written there.
    const result = await run(sandbox, "head -c 1073741824 /dev/zero | tr '\\0' a | fold -w 4096 > /proc/1/fd/1; echo $?");
    expect(result.out).toBe('0');
    const logPath = (await sandbox.inspect()).LogPath;
    const files = [logPath, `${logPath}.1`, `${logPath}.2`, `${logPath}.3`];
    const total = files.reduce((sum, file) => sum + (statSync(file, { throwIfNoEntry: false })?.size ?? 0), 0);
    expect(total).toBeGreaterThan(1 * MiB);
    expect(total).toBeLessThanOrEqual(30 * MiB);
  }, 240_000);
});
