/**
 * Where a sandbox may write (issue 14, items 10 and 11), on the real engine:
 * - `/workspace` and `/tmp` are mounted `exec` (the engine's tmpfs default is noexec, so an agent
 *   could not run `./gradlew` or `node_modules/.bin/*`), still `nosuid,nodev`;
 * - every `VOLUME` the image declares is a size-capped tmpfs owned by the sandbox user, where the
 *   engine would otherwise create an anonymous volume on the host's disk, without any limit
 *   (300 MB were written with a 64m memory limit).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DockerSandbox } from '../../src/sandbox/docker-sandbox.js';
import { ownershipLabels } from '../../src/sandbox/labels.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { TEST_IMAGE, createTestDocker, removeLeftovers, testInstanceId } from '../helpers/docker.js';

const MiB = 1024 ** 2;
const TMP_BYTES = 16 * MiB;
const LIMITS = { cpus: 1, memoryBytes: 256 * MiB, pidsLimit: 128 };
const instanceId = testInstanceId();
/** An image of our own, built FROM the sandbox image, that declares volumes; removed in afterAll. */
const VOLUME_IMAGE = `bosun-test-volumes:${instanceId}`;
const DOCKERFILE = [
  `FROM ${TEST_IMAGE}`,
  'VOLUME /data',
  // Written with a trailing slash, nested under a tmpfs of bosun's, and under the read-only root.
  'VOLUME ["/var/cache/tool/", "/workspace/deps", "/tmp/inner"]',
].join('\n');

let docker: Docker;
let manager: SandboxManager;
let seq = 0;

beforeAll(async () => {
  docker = createTestDocker();
  manager = new SandboxManager(docker, instanceId, {
    isolation: { user: '1000:1000', tmpBytes: TMP_BYTES, workspaceBytes: 32 * MiB, network: null },
  });
  const context = mkdtempSync(join(tmpdir(), 'bosun-volume-image-'));
  try {
    writeFileSync(join(context, 'Dockerfile'), `${DOCKERFILE}\n`);
    const stream = await docker.buildImage({ context, src: ['Dockerfile'] }, { t: VOLUME_IMAGE });
    const output = await new Promise<{ error?: string }[]>((resolve, reject) =>
      docker.modem.followProgress(stream, (error: Error | null, result: { error?: string }[]) => (error ? reject(error) : resolve(result))),
    );
    const failed = output.find((line) => line.error);
    if (failed) throw new Error(`docker build failed: ${failed.error}`);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
});
afterEach(() => manager.disposeAll());
afterAll(async () => {
  await manager?.disposeAll();
  expect(await removeLeftovers(docker, instanceId)).toBe(0);
  await docker.getImage(VOLUME_IMAGE).remove({ force: true });
});

function create(image = TEST_IMAGE, limits = LIMITS, target = manager): Promise<DockerSandbox> {
  seq += 1;
  return target.create({ runId: `${instanceId}-${seq}`, image, limits });
}

async function run(sandbox: DockerSandbox, command: string): Promise<{ exitCode: number; out: string }> {
  let out = '';
  const { exitCode } = await sandbox.exec(command, { onOutput: (_stream, line) => (out += `${line}\n`) });
  return { exitCode, out: out.trim() };
}

/** The mount options of `path` as the kernel reports them inside the sandbox. */
async function mountOptions(sandbox: DockerSandbox, path: string): Promise<{ type: string; options: string[] }> {
  const { out } = await run(sandbox, `awk '$2 == "${path}" { print $3, $4 }' /proc/mounts`);
  const [type = '', options = ''] = out.split(' ');
  return { type, options: options.split(',') };
}

describe('/workspace and /tmp', () => {
  it('run what an agent writes there: a script, and a tool installed under node_modules/.bin', async () => {
    const sandbox = await create();
    await sandbox.writeFile('/workspace/gradlew', '#!/bin/sh\necho "ran $0"\n');
    await sandbox.writeFile('/workspace/node_modules/.bin/tool', '#!/bin/sh\necho "tool ran"\n');
    await sandbox.writeFile('/tmp/check.sh', '#!/bin/sh\necho "ran $0"\n');
    expect(
      await run(sandbox, 'chmod +x gradlew node_modules/.bin/tool /tmp/check.sh && ./gradlew && node_modules/.bin/tool && /tmp/check.sh'),
    ).toEqual({
      exitCode: 0,
      out: 'ran ./gradlew\ntool ran\nran /tmp/check.sh',
    });
  });

  it('are tmpfs mounted exec but nosuid and nodev, as /proc/mounts shows inside', async () => {
    const sandbox = await create();
    for (const path of ['/workspace', '/tmp']) {
      const { type, options } = await mountOptions(sandbox, path);
      expect(type, path).toBe('tmpfs');
      // The kernel lists noexec when it applies, and nothing when exec is the case.
      expect(options, path).toEqual(expect.arrayContaining(['rw', 'nosuid', 'nodev']));
      expect(options, path).not.toContain('noexec');
    }
  });
});

describe('an image that declares VOLUME', () => {
  it('would get anonymous volumes on the host from the engine (what bosun prevents)', async () => {
    // A container of the same image, created without bosun's mounts: the attack's setting.
    const bare = await docker.createContainer({
      Image: VOLUME_IMAGE,
      Cmd: ['true'],
      Labels: ownershipLabels({ instanceId, runId: `${instanceId}-bare` }),
    });
    try {
      const info = await docker.getContainer(bare.id).inspect();
      expect(
        info.Mounts.filter((mount) => mount.Type === 'volume')
          .map((mount) => mount.Destination)
          .sort(),
      ).toEqual(['/data', '/tmp/inner', '/var/cache/tool', '/workspace/deps']);
    } finally {
      await bare.remove({ force: true, v: true });
    }
  });

  it('gets a size-capped tmpfs owned by the sandbox user for each, and no volume', async () => {
    const volumesBefore = new Set(((await docker.listVolumes()).Volumes ?? []).map((volume) => volume.Name));
    const sandbox = await create(VOLUME_IMAGE);
    const info = await sandbox.inspect();
    const declared = `rw,exec,nosuid,nodev,size=${TMP_BYTES},uid=1000,gid=1000,mode=0755`;
    expect((info.HostConfig as { Tmpfs?: Record<string, string> }).Tmpfs).toEqual({
      '/tmp': `rw,exec,nosuid,nodev,size=${TMP_BYTES},mode=1777`,
      '/workspace': `rw,exec,nosuid,nodev,size=${32 * MiB},uid=1000,gid=1000,mode=0755`,
      '/data': declared,
      '/var/cache/tool': declared,
      '/workspace/deps': declared,
      '/tmp/inner': declared,
    });
    expect(info.Mounts.filter((mount) => mount.Type === 'volume')).toEqual([]);
    // Volumes that appeared meanwhile are other tests' (they run in parallel): none is this container's.
    const volumesAfter = ((await docker.listVolumes()).Volumes ?? []).map((volume) => volume.Name).filter((name) => !volumesBefore.has(name));
    for (const name of volumesAfter) {
      const users = await docker.listContainers({ all: true, filters: { volume: [name] } });
      expect(users.map((container) => container.Id)).not.toContain(sandbox.id);
    }
    for (const path of ['/data', '/var/cache/tool', '/workspace/deps', '/tmp/inner']) {
      const { type, options } = await mountOptions(sandbox, path);
      expect(type, path).toBe('tmpfs');
      expect(options, path).toEqual(expect.arrayContaining(['rw', 'nosuid', 'nodev', `size=${TMP_BYTES / 1024}k`, 'uid=1000', 'gid=1000']));
      expect(options, path).not.toContain('noexec');
    }
    expect((await run(sandbox, 'stat -c %u:%g /data && echo ok > /data/f && cat /data/f')).out).toBe('1000:1000\nok');
  });

  it('fills a declared volume to ENOSPC at its cap', async () => {
    const sandbox = await create(VOLUME_IMAGE);
    const fill = await run(sandbox, 'dd if=/dev/zero of=/data/fill bs=1M count=64 2>&1; stat -c %s /data/fill');
    expect(fill.out).toMatch(/No space left on device/);
    expect(Number(fill.out.split('\n').at(-1))).toBeLessThanOrEqual(TMP_BYTES);
  });

  it('bounds what a run writes there by its memory limit: 300 MB at 64m no longer reach the disk', async () => {
    // The issue's attack: a cap larger than the memory limit, so memory is what stops the writer.
    const roomy = new SandboxManager(docker, instanceId, {
      isolation: { user: '1000:1000', tmpBytes: 512 * MiB, workspaceBytes: 32 * MiB, network: null },
    });
    try {
      const sandbox = await create(VOLUME_IMAGE, { cpus: 1, memoryBytes: 64 * MiB, pidsLimit: 128 }, roomy);
      const fill = await run(sandbox, 'dd if=/dev/zero of=/data/fill bs=1M count=300 2>/dev/null; echo "dd exit $?"; stat -c %s /data/fill');
      const [status, size] = fill.out.split('\n');
      // The kernel kills the writer at the memory limit (tmpfs pages are charged to the container;
      // with swap off they cannot leave memory): 137 is SIGKILL.
      expect(status).toBe('dd exit 137');
      expect(Number(size)).toBeGreaterThan(16 * MiB);
      expect(Number(size)).toBeLessThanOrEqual(64 * MiB);
    } finally {
      await roomy.disposeAll();
    }
  });
});
