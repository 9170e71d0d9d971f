/**
 * A node that is alive but silent past the lease (SIGSTOP: a stalled event loop, or a
 * node cut off from PostgreSQL) has its running run ended FAILED / INTERRUPTED by another node. When
 * it wakes, what the cluster recorded must stay: the run's end is recorded once.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { ChildNodes, isAlive, readRun, waitForStatus, type NodeSpec, type TestNode } from '../helpers/cluster-nodes.js';
import { startPostgres, startRedis, type TestServer } from '../helpers/cluster-servers.js';
import { createTestDocker, removeLeftovers } from '../helpers/docker.js';
import { gql, startRun, until } from '../helpers/e2e.js';

const LEASE_MS = 4000;
let postgres: TestServer;
let redis: TestServer;
let cluster: ChildNodes;
const docker = createTestDocker();

beforeAll(async () => {
  [postgres, redis] = await Promise.all([startPostgres(), startRedis()]);
  cluster = new ChildNodes({ databaseUrl: postgres.url, leaseMs: LEASE_MS });
}, 120_000);

afterAll(async () => {
  await Promise.all([redis?.stop(), postgres?.stop()]);
});

afterEach(async () => {
  for (const node of cluster.nodes) if (isAlive(node)) node.server.process.kill('SIGCONT');
  for (const node of await cluster.stopAll()) await removeLeftovers(docker, node.instanceId);
  const connection = new Redis(redis.url);
  await connection.flushall();
  connection.disconnect();
}, 60_000);

function startNodes(specs: readonly NodeSpec[]): Promise<TestNode[]> {
  onTestFailed(() => console.error(cluster.describe()));
  return cluster.start(specs, redis.url);
}

describe('a node silent past the lease, then awake', () => {
  for (const grace of ['0', '10000'])
    it(`leaves the run the cluster ended INTERRUPTED as it was recorded (SHUTDOWN_GRACE_MS ${grace})`, async () => {
      const [b] = await startNodes([{ name: 'node-b', env: { SHUTDOWN_GRACE_MS: grace } }]);
      const { agentId } = await startRun(b!.url, { steps: ['sleep 5', 'echo after the stall'] });
      await waitForStatus(b!.url, agentId, 'RUNNING');
      const [a] = await startNodes([{ name: 'node-a' }]);

      b!.server.process.kill('SIGSTOP');
      const lost = await until('node A to end the silent node’s run', 6 * LEASE_MS, async () => {
        const run = await readRun(a!.url, agentId);
        return run.status === 'RUNNING' ? undefined : run;
      });
      expect(lost).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED' });
      expect(lost.error).toContain('stopped renewing its lease');
      // Long enough for the run's first step to have ended in its container meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 3000));

      b!.server.process.kill('SIGCONT');
      // B learns that it lost its place and stops (main.ts: onNodeLost).
      await until('node B to exit', 60_000, () => Promise.resolve(isAlive(b!) ? undefined : true));

      const after = await readRun(a!.url, agentId);
      const logs = (
        await gql<{ agentRun: { logs: { line: string }[] } }>(a!.url, 'query ($id: ID!) { agentRun(id: $id) { logs { line } } }', { id: agentId })
      ).agentRun.logs.map((line) => line.line);
      // What the cluster recorded stays: one end, the lease's.
      expect(after).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED', error: lost.error, finishedAt: lost.finishedAt });
      // And its store did not fault on the lines of it numbered twice (B's and the lease's).
      expect(b!.server.output()).not.toContain('duplicate key');
      expect(logs.filter((line) => line.includes('stopped renewing its lease'))).toHaveLength(1);
    }, 180_000);
});
