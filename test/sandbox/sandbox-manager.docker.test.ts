/**
 * The sandbox manager on the real engine: reaping orphans while sandboxes are being created.
 */
import type Docker from 'dockerode';
import { afterAll, afterEach, expect, it } from 'vitest';
import { ownershipLabels } from '../../src/sandbox/labels.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { TEST_IMAGE, containersOf, createTestDocker, removeLeftovers, testInstanceId } from '../helpers/docker.js';
import { reapRightAfterEachCreate } from '../helpers/reap-while-creating.js';

const MiB = 1024 ** 2;
const LIMITS = { cpus: 0.5, memoryBytes: 128 * MiB, pidsLimit: 64 };
const docker = createTestDocker();
const managers: SandboxManager[] = [];
const instanceIds: string[] = [];

/** A manager of a new instance id, so each test sees only its own containers. */
function newManager(client: Docker = createTestDocker()): { manager: SandboxManager; instanceId: string } {
  const instanceId = testInstanceId();
  const manager = new SandboxManager(client, instanceId);
  managers.push(manager);
  instanceIds.push(instanceId);
  return { manager, instanceId };
}

afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.disposeAll();
});

afterAll(async () => {
  let leftovers = 0;
  for (const instanceId of instanceIds) leftovers += await removeLeftovers(docker, instanceId);
  expect(leftovers).toBe(0);
});

it('never reaps a sandbox whose creation is in flight, while several are being created, and still reaps a real orphan', async () => {
  const client = createTestDocker();
  const { manager, instanceId } = newManager(client);
  const orphan = await docker.createContainer({
    Image: TEST_IMAGE,
    Cmd: ['sleep', '600'],
    Labels: ownershipLabels({ instanceId, runId: 'left-behind' }),
    HostConfig: { NetworkMode: 'none' },
  });
  const { reaped, failures } = reapRightAfterEachCreate(client, () => manager.reapOrphans());

  const runIds = Array.from({ length: 4 }, (_, i) => `${instanceId}-starting-${i}`);
  const results = await Promise.allSettled(runIds.map((runId) => manager.create({ runId, image: TEST_IMAGE, limits: LIMITS })));

  expect(results.map((result) => (result.status === 'rejected' ? String(result.reason) : 'created'))).toEqual(runIds.map(() => 'created'));
  const sandboxes = results.map((result) => (result as PromiseFulfilledResult<Awaited<ReturnType<SandboxManager['create']>>>).value);
  expect(failures).toEqual([]);
  expect(reaped).toEqual([orphan.id]);
  for (const sandbox of sandboxes) {
    expect((await sandbox.inspect()).State.Running).toBe(true);
    expect(await sandbox.exec('true')).toEqual({ exitCode: 0 });
  }
  expect(manager.liveSandboxes()).toHaveLength(4);
  // Once created, they are live: a later reap leaves them alone too.
  expect(await manager.reapOrphans()).toEqual([]);
  expect((await containersOf(docker, instanceId)).sort()).toEqual(sandboxes.map((sandbox) => sandbox.id).sort());
});

it('protects a name only while its creation is in flight: after a failed creation, a container by that name is reaped', async () => {
  const { manager, instanceId } = newManager();
  const runId = `${instanceId}-failed`;
  await expect(manager.create({ runId, image: 'bosun-no-such-image:never', limits: LIMITS })).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
  const leftover = await docker.createContainer({
    name: `bosun-${runId}`,
    Image: TEST_IMAGE,
    Cmd: ['sleep', '600'],
    Labels: ownershipLabels({ instanceId, runId }),
    HostConfig: { NetworkMode: 'none' },
  });
  expect(await manager.reapOrphans()).toEqual([leftover.id]);
  expect(await containersOf(docker, instanceId, runId)).toEqual([]);
});
