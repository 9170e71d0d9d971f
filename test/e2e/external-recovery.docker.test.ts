/**
 * kill -9 of bosun during an external run: at the restart on the same database the run ends
 * FAILED / INTERRUPTED, its container is removed, and its agent's calls answer INVALID_STATE.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { freePort, startChildServer, type ChildServer } from '../helpers/child-server.js';
import { containersOf, createTestDocker, removeLeftovers, testInstanceId } from '../helpers/docker.js';
import { until, waitForFinal } from '../helpers/e2e.js';
import { EXEC, call, exec, firstError, startExternal } from '../helpers/external-e2e.js';

const docker = createTestDocker();
const children: ChildServer[] = [];
const cleanups: Array<() => Promise<unknown> | void> = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.process.exitCode === null) child.process.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

it('after kill -9 during an external run, the restart ends it INTERRUPTED and removes its container', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-external-'));
  const instanceId = testInstanceId();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => removeLeftovers(docker, instanceId));
  const env = { BOSUN_DB_PATH: join(dir, 'bosun.db'), BOSUN_INSTANCE_ID: instanceId, DOCKER_MEMORY_LIMIT: '128m', STOP_GRACE_MS: '500' };
  const port = await freePort();

  const first = await startChildServer(env, port);
  children.push(first);
  const id = await startExternal(first.url);
  expect((await exec(first.url, id, 'echo before the crash')).stdout).toBe('before the crash\n');
  // A command is running when bosun dies.
  void call(first.url, EXEC, { id, command: 'sleep 600' }).catch(() => undefined);
  await until('the command to run', 20_000, async () => {
    const { data } = await call<{ agentRun: { steps: unknown[] } }>(first.url, 'query ($id: ID!) { agentRun(id: $id) { steps { index } } }', { id });
    return data?.agentRun.steps.length === 2 ? true : undefined;
  });
  expect(await containersOf(docker, instanceId, id)).toHaveLength(1);
  first.process.kill('SIGKILL');
  await first.exited;

  const second = await startChildServer(env, port);
  children.push(second);
  expect(await waitForFinal(second.url, id)).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED' });
  expect(firstError((await call(second.url, EXEC, { id, command: 'true' })).errors)).toEqual({
    code: 'INVALID_STATE',
    message: `run ${id} has finished (FAILED / INTERRUPTED)`,
  });
  await until('the container to be removed', 20_000, async () => ((await containersOf(docker, instanceId, id)).length === 0 ? true : undefined));
});
