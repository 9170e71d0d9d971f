/**
 * Several bosun nodes as one (issue #17), each built as main.ts builds a cluster node
 * (openClusterBackends, then createApp) in this process, on one real Redis, one real PostgreSQL and
 * the real Docker engine, with distinct names and instance ids, playing distinct hosts.
 */
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AppBackends } from '../../src/app-backends.js';
import { type BosunApp } from '../../src/app.js';
import { createLogger } from '../../src/logger.js';
import { emptyClusterStores, openClusterApp } from '../helpers/cluster-app.js';
import { startPostgres, startRedis, type TestServer } from '../helpers/cluster-servers.js';
import { containersOf, createTestDocker, removeLeftovers, testInstanceId } from '../helpers/docker.js';
import { collect, gql, startRun, until, type Result } from '../helpers/e2e.js';
import { call, EXEC, exec } from '../helpers/external-e2e.js';
import { makeRun } from '../helpers/fixtures.js';
import { freePort, startChildServer } from '../helpers/child-server.js';
import { createWsClient } from '../helpers/graphql-clients.js';
import { type LogEntry } from '../helpers/test-logger.js';

let redis: TestServer;
let postgres: TestServer;
const docker = createTestDocker();

interface TestNode {
  readonly name: string;
  readonly instanceId: string;
  readonly app: BosunApp;
  readonly backends: AppBackends;
  readonly url: string;
  readonly wsUrl: string;
}

const nodes: TestNode[] = [];
let leftovers = 0;

beforeAll(async () => {
  [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
}, 120_000);

afterAll(async () => {
  await Promise.all([redis?.stop(), postgres?.stop()]);
});

afterEach(async () => {
  // Closed one by one: a graceful stop of one node leaves the others serving.
  for (const node of nodes.splice(0).reverse()) {
    await node.app.close(0);
    leftovers += await removeLeftovers(docker, node.instanceId);
  }
  expect(leftovers).toBe(0);
  await emptyClusterStores({ redisUrl: redis.url, databaseUrl: postgres.url });
}, 60_000);

/** Node `name` on this file's Redis and PostgreSQL, started (see openClusterApp). */
async function startNode(name: string, env: Record<string, string> = {}, logged?: LogEntry[]): Promise<TestNode> {
  return (await openNode(name, env, logged)).start();
}

/** Node `name`, its backends open (its worker takes jobs, which wait), not started yet. */
async function openNode(
  name: string,
  env: Record<string, string> = {},
  logged?: LogEntry[],
): Promise<{ readonly backends: AppBackends; readonly app: BosunApp; start(): Promise<TestNode> }> {
  const { instanceId, backends, app } = await openClusterApp(
    name,
    { REDIS_URL: redis.url, BOSUN_DB_URL: postgres.url, NODE_LEASE_MS: '4000', ...env },
    logged,
  );
  return {
    backends,
    app,
    async start() {
      const { url } = await app.start();
      const node = { name, instanceId, app, backends, url, wsUrl: url.replace(/^http/, 'ws') };
      nodes.push(node);
      return node;
    },
  };
}

const RUN_QUERY = /* GraphQL */ `
  query Run($id: ID!) {
    agentRun(id: $id) {
      id
      status
      node
      startedAt
      finishedAt
    }
  }
`;

interface RunRow {
  readonly id: string;
  readonly status: string;
  readonly node: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

async function readRun(url: string, id: string): Promise<RunRow> {
  return (await gql<{ agentRun: RunRow }>(url, RUN_QUERY, { id })).agentRun;
}

/** The containers of an instance, running or not. */
async function countContainers(instanceId: string): Promise<number> {
  return (await containersOf(docker, instanceId)).length;
}

async function logLines(url: string, id: string): Promise<string[]> {
  const data = await gql<{ agentRun: { logs: { line: string }[] } }>(url, 'query ($id: ID!) { agentRun(id: $id) { logs { line } } }', { id });
  return data.agentRun.logs.map((line) => line.line);
}

function waitForFinal(url: string, id: string, ms = 60_000): Promise<RunRow> {
  return until(`run ${id} to finish`, ms, async () => {
    const run = await readRun(url, id);
    return ['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'].includes(run.status) ? run : undefined;
  });
}

describe('a cluster of bosun nodes', () => {
  it('runs runs started round-robin within the cluster limit and each node limit, starting them in FIFO order', async () => {
    const env = { MAX_CONCURRENT_AGENTS: '2', NODE_MAX_CONCURRENT_AGENTS: '1' };
    const members = [await startNode('node-a', env), await startNode('node-b', env), await startNode('node-c', env)];
    // The cluster's order of starts, as one node's mirror of the line sees it.
    const started: string[] = [];
    members[0]!.app.queue.events.on('started', ({ id }) => started.push(id));
    // Concurrency as the engine sees it: containers of the three instances that are running.
    let running = 0;
    let maxRunning = 0;
    const perNode = new Map<string, number>();
    let maxPerNode = 0;
    const events = await docker.getEvents({ filters: { type: ['container'], event: ['start', 'die'] } });
    const instanceOf = new Map(members.map((member) => [member.instanceId, member.name]));
    events.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const event = JSON.parse(line) as { status: string; Actor: { Attributes: Record<string, string> } };
        const node = Object.entries(event.Actor.Attributes)
          .map(([, value]) => instanceOf.get(value))
          .find((name) => name !== undefined);
        if (node === undefined) continue;
        const delta = event.status === 'start' ? 1 : -1;
        running += delta;
        perNode.set(node, (perNode.get(node) ?? 0) + delta);
        maxRunning = Math.max(maxRunning, running);
        maxPerNode = Math.max(maxPerNode, perNode.get(node)!);
      }
    });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 6; i += 1) {
        const member = members[i % members.length]!;
        ids.push((await startRun(member.url, { steps: [`echo run ${i}`, 'sleep 1'] })).agentId);
      }
      const finals = await Promise.all(ids.map((id, i) => waitForFinal(members[(i + 1) % members.length]!.url, id, 120_000)));
      expect(finals.map((run) => run.status)).toEqual(ids.map(() => 'SUCCEEDED'));
      expect(new Set(finals.map((run) => run.node)).size).toBeGreaterThanOrEqual(2);
      for (const run of finals) expect(members.map((member) => member.name)).toContain(run.node);
      expect(started).toEqual(ids);
      // Docker reports a container's start and die a moment after bosun counts them: never above the limits.
      expect(maxRunning).toBeGreaterThan(0);
      expect(maxRunning).toBeLessThanOrEqual(2);
      expect(maxPerNode).toBeLessThanOrEqual(1);
    } finally {
      (events as unknown as { destroy(): void }).destroy();
    }
  }, 180_000);

  it('shows a run queued on node A and run by node B to a watcher on node C, with no line lost or repeated', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b');
    const c = await startNode('node-c');
    // Only B takes runs: A and C stop taking theirs (their engines are fine; the line goes on).
    await a.backends.nodeQueue.pause();
    await c.backends.nodeQueue.pause();
    await b.backends.nodeQueue.pause();
    const lines = 300;
    const { agentId } = await startRun(a.url, { steps: [`i=1; while [ $i -le ${lines} ]; do echo line $i; i=$((i+1)); done`] });
    expect((await readRun(c.url, agentId)).status).toBe('QUEUED');

    const client = createWsClient(c.wsUrl);
    try {
      const logs = collect(
        client.iterate<{ agentLogs: { seq: number; stream: string; line: string } }>({
          query: 'subscription ($id: ID!) { agentLogs(agentId: $id) { seq stream line } }',
          variables: { id: agentId },
        }) as AsyncIterator<Result<{ agentLogs: { seq: number; stream: string; line: string } }>>,
      );
      const updates = collect(
        client.iterate<{ agentRunUpdated: { status: string; node: string | null } }>({
          query: 'subscription ($id: ID!) { agentRunUpdated(agentId: $id) { status node } }',
          variables: { id: agentId },
        }) as AsyncIterator<Result<{ agentRunUpdated: { status: string; node: string | null } }>>,
      );
      await b.backends.nodeQueue.resume();
      await Promise.race([
        Promise.all([logs.ended, updates.ended]),
        new Promise((_, reject) =>
          setTimeout(() => {
            void readRun(c.url, agentId).then((run) =>
              reject(
                new Error(
                  `the subscriptions on node C did not complete: the run is ${JSON.stringify(run)}, ${logs.results.length} lines and ${updates.results.length} updates came`,
                ),
              ),
            );
          }, 30_000),
        ),
      ]);

      const received = logs.results.map((result) => result.data!.agentLogs);
      expect(received.map((line) => line.seq)).toEqual(received.map((_, index) => index + 1));
      const output = received.filter((line) => line.stream === 'STDOUT').map((line) => line.line);
      expect(output).toEqual(Array.from({ length: lines }, (_, index) => `line ${index + 1}`));

      const statuses = updates.results.map((result) => result.data!.agentRunUpdated);
      expect(statuses.at(-1)).toEqual({ status: 'SUCCEEDED', node: 'node-b' });
      expect(statuses.filter((update) => update.status === 'RUNNING').every((update) => update.node === 'node-b')).toBe(true);
      // Every node answers for it, the one that queued it included.
      for (const member of [a, b, c]) expect(await readRun(member.url, agentId)).toMatchObject({ status: 'SUCCEEDED', node: 'node-b' });
    } finally {
      await client.dispose();
    }
  }, 120_000);

  it('autoscales each node’s own cap from its own advice, never the cluster-wide limit', async () => {
    // CONCURRENCY_AUTOSCALE_MAX 1: whatever the host, each node's advice steps its cap from 2 down to 1.
    const env = { MAX_CONCURRENT_AGENTS: '4', NODE_MAX_CONCURRENT_AGENTS: '2', CONCURRENCY_AUTOSCALE: 'true', CONCURRENCY_AUTOSCALE_MAX: '1' };
    const members = [await startNode('node-a', env), await startNode('node-b', env)];
    const adjusted = members.map(
      (member) =>
        new Promise<{ from: number; to: number }>((resolve) => {
          if (member.backends.nodeQueue.maxConcurrency() === 1) resolve({ from: 2, to: 1 });
          else member.app.monitor.events.once('concurrency-adjusted', resolve);
        }),
    );
    for (const member of members) await member.app.monitor.runHealthCheck();
    for (const event of await Promise.all(adjusted)) expect(event).toMatchObject({ from: 2, to: 1 });
    for (const member of members) {
      expect(member.backends.nodeQueue.maxConcurrency()).toBe(1);
      // The cluster's limit is the operator's: no node's autoscaler moved it.
      expect(member.app.queue.stats().maxConcurrency).toBe(4);
      expect(await member.app.monitor.concurrencyAdvice()).toMatchObject({ current: 1 });
    }
    // Never above NODE_MAX_CONCURRENT_AGENTS, whatever is asked.
    await expect(members[0]!.backends.nodeQueue.setMaxConcurrency(3)).rejects.toThrow('from 1 to 2');
  }, 60_000);

  it('prunes artifacts under the cluster’s prune lock, with the runs it drops in the same round', async () => {
    // Not started: a started node prunes at once by itself, in the middle of what this test counts.
    const a = await openNode('node-a');
    const { PostgresDatabase } = await import('../../src/store/postgres/pg-database.js');
    const { PostgresRunStore } = await import('../../src/store/postgres/postgres-run-store.js');
    const db = await PostgresDatabase.open({ url: postgres.url, logger: createLogger({ level: 'silent' }) });
    try {
      const store = new PostgresRunStore(db, { logLinesPerRun: 100 });
      const longAgo = new Date(Date.now() - 10 * 24 * 3_600_000);
      for (const id of ['gone-before', 'old-run']) {
        await store.insert(makeRun({ id, status: 'SUCCEEDED', queuedAt: longAgo, startedAt: longAgo, finishedAt: longAgo }));
        await a.backends.artifactStore.save(id, '/workspace/out', Readable.from([Buffer.from(id)]), { maxBytes: 1024 });
      }
      // Pruned before a crash: its artifacts are left over.
      await db.query("DELETE FROM runs WHERE id = 'gone-before'");
      const retention = { maxFinishedRuns: 100, maxAgeMs: 24 * 3_600_000 };
      // Another node prunes now: this one leaves the whole round to it, artifacts included.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let locked!: () => void;
      const holding = new Promise<void>((resolve) => (locked = resolve));
      const other = db.withAdvisoryLock('prune', async () => {
        locked();
        await held;
      });
      await holding;
      expect(await a.backends.prune(retention)).toEqual({ runs: 0, artifactRuns: 0 });
      expect(await a.backends.artifactStore.list('gone-before')).toHaveLength(1);
      release();
      await other;
      expect(await a.backends.prune(retention)).toEqual({ runs: 1, artifactRuns: 2 });
      expect(await a.backends.artifactStore.list('gone-before')).toEqual([]);
      expect(await a.backends.artifactStore.list('old-run')).toEqual([]);
    } finally {
      await db.close();
      await a.app.close(0);
    }
  }, 60_000);

  it('cancels a run running on node B when the cancel is sent to node C', async () => {
    const [a, b, c] = await Promise.all([startNode('node-a'), startNode('node-b'), startNode('node-c')]);
    await Promise.all([a.backends.nodeQueue.pause(), c.backends.nodeQueue.pause()]);
    const { agentId } = await startRun(a.url, { steps: ['sleep 60'] });
    await until('the run to run on node B', 30_000, async () => ((await readRun(c.url, agentId)).node === 'node-b' ? true : undefined));
    await until("the run's container on node B", 20_000, async () => ((await countContainers(b.instanceId)) === 1 ? true : undefined));

    const cancelled = await gql<{ cancelAgent: { status: string; node: string } }>(
      c.url,
      'mutation ($id: ID!) { cancelAgent(id: $id) { status node } }',
      {
        id: agentId,
      },
    );
    expect(cancelled.cancelAgent).toEqual({ status: 'CANCELLED', node: 'node-b' });
    // Stopped where it ran: its container is gone, and every node reads it cancelled.
    await until("node B's container to go", 20_000, async () => ((await countContainers(b.instanceId)) === 0 ? true : undefined));
    for (const node of [a, b, c]) expect((await readRun(node.url, agentId)).status).toBe('CANCELLED');
  }, 60_000);

  it('cancels a run that a node has taken from the line but not yet recorded RUNNING, rather than answer it QUEUED and let it run', async () => {
    const a = await startNode('node-a');
    await a.backends.nodeQueue.pause();
    // Node B's worker takes the run, which waits in the hand-off until B has started.
    const b = await openNode('node-b');
    const { agentId } = await startRun(a.url, { steps: ['sleep 60'] });
    await until('node B to take the run from the line', 20_000, () => Promise.resolve(a.app.queue.stats().running === 1 ? true : undefined));
    expect((await readRun(a.url, agentId)).status).toBe('QUEUED');

    const cancelling = gql<{ cancelAgent: { status: string; node: string | null } }>(
      a.url,
      'mutation ($id: ID!) { cancelAgent(id: $id) { status node } }',
      {
        id: agentId,
      },
    );
    // The cancel waits for the hand-off; B starts, records the run RUNNING, and is sent the cancel.
    const started = await b.start();
    expect((await cancelling).cancelAgent).toEqual({ status: 'CANCELLED', node: 'node-b' });
    await until("node B's container to go", 20_000, async () => ((await countContainers(started.instanceId)) === 0 ? true : undefined));
  }, 60_000);

  it('drives an external run on node B with exec, files and finish sent to node A, and a client that never knew B', async () => {
    const [a, b] = await Promise.all([startNode('node-a'), startNode('node-b')]);
    await a.backends.nodeQueue.pause();
    const { agentId } = await startRun(a.url, { agent: 'external' });
    await until('the run to run on node B', 30_000, async () => ((await readRun(a.url, agentId)).node === 'node-b' ? true : undefined));

    // exec waits on B while the sandbox is set up, as it does on the node that runs it.
    const ran = await exec(a.url, agentId, 'echo "$((6 * 7))" && cat /etc/hostname');
    expect(ran.exitCode).toBe(0);
    const [answer, hostname] = ran.stdout.trim().split('\n');
    expect(answer).toBe('42');
    // Ran in B's container, the one the run holds.
    const [container] = await containersOf(docker, b.instanceId);
    expect(container?.startsWith(hostname!)).toBe(true);

    await gql(a.url, 'mutation ($id: ID!, $files: [FileInput!]!) { writeFiles(agentId: $id, files: $files) { path } }', {
      id: agentId,
      files: [{ path: '/workspace/notes/a.txt', content: 'written through node A' }],
    });
    const read = await gql<{ readFile: { content: string } }>(
      a.url,
      'query ($id: ID!) { readFile(agentId: $id, path: "/workspace/notes/a.txt") { content } }',
      {
        id: agentId,
      },
    );
    expect(read.readFile.content).toBe('written through node A');
    // Its idleness is its session's, on B; node A asks B.
    const idle = await gql<{ agentRun: { idleSince: string | null } }>(a.url, 'query ($id: ID!) { agentRun(id: $id) { idleSince } }', {
      id: agentId,
    });
    const idleOnB = await gql<{ agentRun: { idleSince: string | null } }>(b.url, 'query ($id: ID!) { agentRun(id: $id) { idleSince } }', {
      id: agentId,
    });
    expect(idle.agentRun.idleSince).not.toBeNull();
    expect(idle.agentRun.idleSince).toBe(idleOnB.agentRun.idleSince);
    const archive = await fetch(`${a.url.replace(/\/graphql$/, '')}/runs/${agentId}/archive?path=/workspace/notes`);
    expect(archive.status).toBe(200);
    expect(Buffer.from(await archive.arrayBuffer()).includes(Buffer.from('written through node A'))).toBe(true);

    const finished = await gql<{ finishAgent: { status: string; node: string } }>(
      a.url,
      'mutation ($id: ID!) { finishAgent(agentId: $id, exitCode: 0) { status node } }',
      { id: agentId },
    );
    expect(finished.finishAgent).toEqual({ status: 'SUCCEEDED', node: 'node-b' });
    const after = await call(a.url, EXEC, { id: agentId, command: 'true' });
    expect(after.errors?.[0]).toMatchObject({ extensions: { code: 'INVALID_STATE' } });
  }, 90_000);

  it('refuses a call on a run of a node that other nodes cannot reach (no BOSUN_NODE_URL) with a clear error', async () => {
    const a = await startNode('node-a');
    const b = await startNode('node-b', { BOSUN_NODE_URL: '' });
    await a.backends.nodeQueue.pause();
    const { agentId } = await startRun(a.url, { agent: 'external' });
    await until('the run to run on node B', 30_000, async () => ((await readRun(a.url, agentId)).node === 'node-b' ? true : undefined));
    const refused = await call(a.url, EXEC, { id: agentId, command: 'true' });
    expect(refused.errors?.[0]).toMatchObject({ extensions: { code: 'UNAVAILABLE' } });
    expect(refused.errors?.[0]?.message).toContain('BOSUN_NODE_URL');
    // The node that runs it serves it.
    expect((await exec(b.url, agentId, 'echo here')).stdout).toBe('here\n');
  }, 60_000);

  it('lists every node in healthReport.nodes, with the cluster-wide advice, and a stopped node as stopped', async () => {
    const [a, b] = await Promise.all([
      startNode('node-a', { MAX_CONCURRENT_AGENTS: '3', NODE_MAX_CONCURRENT_AGENTS: '1' }),
      startNode('node-b', { MAX_CONCURRENT_AGENTS: '3' }),
    ]);
    const query = /* GraphQL */ `
      {
        healthReport {
          nodes {
            name
            url
            reachable
            running
            capacity
            engineVersion
            containers {
              total
            }
            recommendedConcurrency
            stoppedAt
          }
        }
        concurrencyAdvice {
          recommended
          cluster {
            current
            recommended
            reason
          }
        }
      }
    `;
    type Report = {
      healthReport: {
        nodes: { name: string; reachable: boolean; capacity: number; recommendedConcurrency: number | null; stoppedAt: string | null }[];
      };
      concurrencyAdvice: { recommended: number; cluster: { current: number; recommended: number; reason: string } };
    };
    // Once each has sent a heartbeat with its first health check's advice.
    const report = await until('both nodes to advise', 20_000, async () => {
      const data = await gql<Report>(b.url, query);
      return data.healthReport.nodes.length === 2 && data.healthReport.nodes.every((node) => node.recommendedConcurrency !== null) ? data : undefined;
    });
    const engine = (await docker.version()).Version;
    expect(report.healthReport.nodes).toEqual([
      expect.objectContaining({
        name: 'node-a',
        url: a.url.replace(/graphql$/, ''),
        reachable: true,
        running: 0,
        capacity: 1,
        engineVersion: engine,
        stoppedAt: null,
      }),
      expect.objectContaining({ name: 'node-b', reachable: true, capacity: 3, engineVersion: engine, stoppedAt: null }),
    ]);
    const [adviceA, adviceB] = report.healthReport.nodes.map((node) => node.recommendedConcurrency!);
    expect(report.concurrencyAdvice.cluster).toMatchObject({ current: 3, recommended: Math.min(adviceA!, 1) + Math.min(adviceB!, 3) });
    expect(report.concurrencyAdvice.cluster.reason).toContain('node-a');

    // A graceful stop: listed as stopped, not reachable; its share leaves the cluster's advice.
    await a.app.close(0);
    nodes.splice(nodes.indexOf(a), 1);
    const after = await gql<Report>(b.url, query);
    expect(after.healthReport.nodes.find((node) => node.name === 'node-a')).toMatchObject({
      reachable: false,
      stoppedAt: expect.any(String) as unknown,
    });
    expect(after.concurrencyAdvice.cluster.recommended).toBe(Math.min(adviceB!, 3));
  }, 60_000);

  it('interrupts the running runs of a node that died without leaving by the lease sweep, naming it, when the queue has no job of it', async () => {
    const { PostgresDatabase } = await import('../../src/store/postgres/pg-database.js');
    const { PostgresRunStore } = await import('../../src/store/postgres/postgres-run-store.js');
    const { PgNodeRegistry } = await import('../../src/store/postgres/pg-node-registry.js');
    const { NodeRegistry } = await import('../../src/cluster/node-registry.js');
    const db = await PostgresDatabase.open({ url: postgres.url, logger: createLogger({ level: 'silent' }) });
    try {
      // A node that joined, then went silent without leaving (its process gone, say, before its job reached Redis).
      const ghost = new NodeRegistry({
        store: new PgNodeRegistry(db),
        leaseMs: 4000,
        figures: () => ({ running: 1, containers: { total: 1, healthy: 1, warning: 0, critical: 0 }, recommendedConcurrency: 2 }),
        logger: createLogger({ level: 'silent' }),
      });
      await ghost.join({ name: 'node-ghost', instanceId: 'ghost', url: null, capacity: 1, engineVersion: null });
      await ghost.close();
      const store = new PostgresRunStore(db, { logLinesPerRun: 1000 });
      await store.insert(makeRun({ id: 'run-of-ghost', status: 'RUNNING', node: 'node-ghost', startedAt: new Date() }));
      await store.flush();
      const a = await startNode('node-a');
      const ended = await until('the lease sweep to end the run', 30_000, async () => {
        const run = await gql<{ agentRun: { status: string; failureReason: string | null; error: string | null } }>(
          a.url,
          'query { agentRun(id: "run-of-ghost") { status failureReason error } }',
        );
        return run.agentRun.status === 'RUNNING' ? undefined : run.agentRun;
      });
      expect(ended).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED' });
      expect(ended.error).toContain('node-ghost');
      expect((await logLines(a.url, 'run-of-ghost')).filter((line) => line.includes('node node-ghost stopped renewing'))).toHaveLength(1);
    } finally {
      await db.query("DELETE FROM nodes WHERE name = 'node-ghost'");
      await db.close();
    }
  }, 60_000);

  it('recovers once when two nodes start at once: each only its own running runs, and the waiting runs Redis lacks back in order', async () => {
    const { PostgresDatabase } = await import('../../src/store/postgres/pg-database.js');
    const { PostgresRunStore } = await import('../../src/store/postgres/postgres-run-store.js');
    const db = await PostgresDatabase.open({ url: postgres.url, logger: createLogger({ level: 'silent' }) });
    const store = new PostgresRunStore(db, { logLinesPerRun: 1000 });
    const config = { ...makeRun({ id: 'x' }).config, limits: { cpus: 1, memoryBytes: 256 * 1024 ** 2, pidsLimit: 100 } };
    const now = Date.now();
    const mine = makeRun({
      id: 'run-of-a',
      status: 'RUNNING',
      node: 'node-a',
      startedAt: new Date(now - 3000),
      queuedAt: new Date(now - 4000),
      config,
    });
    const theirs = makeRun({
      id: 'run-of-x',
      status: 'RUNNING',
      node: 'node-x',
      startedAt: new Date(now - 3000),
      queuedAt: new Date(now - 4000),
      config,
    });
    const waiting = ['waiting-1', 'waiting-2', 'waiting-3'].map((id, index) =>
      makeRun({ id, queuedAt: new Date(now - 2000 + index * 100), config: { ...config, steps: [`echo ${id} ran`] } }),
    );
    for (const run of [mine, theirs, ...waiting]) await store.insert(run);
    await db.close();

    const env = { MAX_CONCURRENT_AGENTS: '1' };
    const [a, b] = await Promise.all([startNode('node-a', env), startNode('node-b', env)]);

    const finals = await Promise.all(waiting.map((run) => waitForFinal(b.url, run.id)));
    expect(finals.map((run) => run.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    // One at a time, in their original order.
    for (let i = 1; i < finals.length; i += 1)
      expect(Date.parse(finals[i]!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(finals[i - 1]!.finishedAt!));
    for (const run of waiting) {
      expect((await logLines(a.url, run.id)).filter((line) => line === `${run.id} ran`)).toHaveLength(1);
    }
    // Node A's own running run is interrupted once; node X's is not A's or B's to end.
    const recovered = await gql<{ agentRun: { status: string; failureReason: string } }>(
      b.url,
      'query { agentRun(id: "run-of-a") { status failureReason } }',
    );
    expect(recovered.agentRun).toEqual({ status: 'FAILED', failureReason: 'INTERRUPTED' });
    expect((await logLines(a.url, 'run-of-a')).filter((line) => line.includes('the server stopped'))).toHaveLength(1);
    expect((await readRun(a.url, 'run-of-x')).status).toBe('RUNNING');
  }, 120_000);

  it('ends the running run of a node killed with SIGKILL FAILED / INTERRUPTED within the lease, naming the node; the node back reaps its container', async () => {
    const leaseMs = 4000;
    const instanceId = testInstanceId();
    const env = {
      REDIS_URL: redis.url,
      BOSUN_DB_URL: postgres.url,
      BOSUN_NODE_NAME: 'node-b',
      BOSUN_INSTANCE_ID: instanceId,
      NODE_LEASE_MS: String(leaseMs),
      BOSUN_DB_PATH: ':memory:',
      DOCKER_MEMORY_LIMIT: '256m',
    };
    let b = await startChildServer(env, await freePort());
    try {
      const { agentId } = await startRun(b.url, { steps: ['sleep 60'] });
      await until('the run to run on node B', 30_000, async () => ((await readRun(b.url, agentId)).status === 'RUNNING' ? true : undefined));
      // Started once B runs it: a paused worker makes no stalled checks, and A must make them.
      const a = await startNode('node-a');
      const killedAt = Date.now();
      b.process.kill('SIGKILL');
      await b.exited;
      const ended = await until('the lost run to end', 4 * leaseMs, async () => {
        const run = await gql<{ agentRun: { status: string; failureReason: string | null; error: string | null } }>(
          a.url,
          'query ($id: ID!) { agentRun(id: $id) { status failureReason error } }',
          { id: agentId },
        );
        return run.agentRun.status === 'RUNNING' ? undefined : run.agentRun;
      });
      expect(ended).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED' });
      expect(ended.error).toContain('node-b');
      // Within the lease, with room for a busy machine's timers.
      expect(Date.now() - killedAt).toBeLessThan(3 * leaseMs);
      // Its container outlived it; the node back reaps it at start, as an embedded bosun does.
      expect(await countContainers(instanceId)).toBeGreaterThan(0);
      b = await startChildServer(env, await freePort());
      await until('node B to reap its orphan', 20_000, async () => ((await countContainers(instanceId)) === 0 ? true : undefined));
    } finally {
      b.process.kill('SIGTERM');
      await b.exited;
      leftovers += await removeLeftovers(docker, instanceId);
    }
  }, 120_000);

  it('records the end of a waiting run that timed out once, though every node saw it leave', async () => {
    const logged: LogEntry[] = [];
    const env = { QUEUE_TIMEOUT_MS: '1500' };
    const members = [await startNode('node-a', env, logged), await startNode('node-b', env, logged), await startNode('node-c', env, logged)];
    for (const member of members) await member.backends.nodeQueue.pause();
    // Each node's own records (its run service's events; the bridged views would show each once per node).
    const finals: string[] = [];
    const left = members.map(() => new Set<string>());
    members.forEach((member, index) => {
      member.app.runs.events.on('run-updated', (run) => {
        if (run.status === 'TIMED_OUT') finals.push(run.id);
      });
      member.app.queue.events.on('left', ({ id }) => left[index]!.add(id));
    });
    const { agentId } = await startRun(members[0]!.url, { steps: ['true'] });
    await until('every node to see the run leave', 30_000, () => Promise.resolve(left.every((ids) => ids.has(agentId)) ? true : undefined));
    expect((await waitForFinal(members[1]!.url, agentId)).status).toBe('TIMED_OUT');
    // An absence, so a bound: a second record would follow its node's store read of the run within moments.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(finals.filter((id) => id === agentId)).toHaveLength(1);
    expect(logged.filter((entry) => entry.fields['runId'] === agentId && entry.msg === 'run timed_out')).toHaveLength(1);
    const stored = await gql<{ agentRun: { error: string; logs: { seq: number }[] } }>(
      members[2]!.url,
      'query ($id: ID!) { agentRun(id: $id) { error logs { seq } } }',
      { id: agentId },
    );
    expect(stored.agentRun.error).toContain('longer than the queue timeout');
    expect(stored.agentRun.logs.map((line) => line.seq)).toEqual(stored.agentRun.logs.map((_, index) => index + 1));
  }, 60_000);

  it('records a waiting run admitted on node A and cancelled from node C as cancelled, on every node', async () => {
    const members = [await startNode('node-a'), await startNode('node-b'), await startNode('node-c')];
    for (const member of members) await member.backends.nodeQueue.pause();
    const [a, , c] = members as [TestNode, TestNode, TestNode];
    const { agentId } = await startRun(a.url, { steps: ['true'] });
    const cancelled = await gql<{ cancelAgent: { status: string } }>(c.url, 'mutation ($id: ID!) { cancelAgent(id: $id) { status } }', {
      id: agentId,
    });
    expect(cancelled.cancelAgent.status).toBe('CANCELLED');
    // Every node has seen it leave: the run is stored CANCELLED with the line's reason, its log numbered without a gap.
    const stored = await until('the cancel to be stored', 10_000, async () => {
      const run = await gql<{ agentRun: { status: string; error: string | null; logs: { seq: number }[] } }>(
        a.url,
        'query ($id: ID!) { agentRun(id: $id) { status error logs { seq } } }',
        { id: agentId },
      );
      return run.agentRun.status === 'CANCELLED' ? run.agentRun : undefined;
    });
    expect(stored.error).toBe('cancelled while waiting in the queue');
    expect(stored.logs.map((line) => line.seq)).toEqual(stored.logs.map((_, index) => index + 1));
  }, 60_000);
});
