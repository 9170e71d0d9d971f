/**
 * Three bosun nodes as three hosts (issue #17, "Tests"): each a child process (`node --import tsx
 * src/main.ts`, as test/helpers/child-server.ts starts it) with its own name and instance id, on
 * one real Redis, one real PostgreSQL and the real Docker engine. What the in-process cluster tests
 * (cluster.cluster.test.ts) cannot show: the limits seen by the engine across processes, a node
 * and Redis killed with SIGKILL, positions watched from another process, and calls on a run sent
 * to another process than the one that runs it.
 *
 * The order in which the cluster started runs is read from the line's own record: BullMQ's events
 * stream in Redis, where each job taken by a worker of any node appends `active` atomically with the
 * take. Each node's `startedAt` comes from its own clock a moment later, so two runs taken at once
 * by two nodes may record theirs a few milliseconds apart in either order.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import {
  ChildNodes,
  isAlive,
  isFinal,
  readRun,
  startOrder,
  tryStart,
  waitForFinals,
  waitForLine,
  waitForStatus,
  watchContainers,
  type NodeSpec,
  type RunRow,
  type TestNode,
} from '../helpers/cluster-nodes.js';
import { startPostgres, startRedis, type TestServer } from '../helpers/cluster-servers.js';
import { containersOf, createTestDocker, removeLeftovers } from '../helpers/docker.js';
import { collect, gql, startRun, until, type Result } from '../helpers/e2e.js';
import { exec } from '../helpers/external-e2e.js';
import { createWsClient, eventually, within } from '../helpers/graphql-clients.js';

/** A node's lease: short, so that a dead node's runs end within seconds. */
const LEASE_MS = 4000;

let postgres: TestServer;
/** Keeps its data across a kill -9 (an append-only file). */
let redis: TestServer;
/** Comes back empty after a kill -9. */
let volatileRedis: TestServer;
let cluster: ChildNodes;
const docker = createTestDocker();
/** Redis servers a test killed and has not started again: afterEach starts them for the next test. */
const down = new Set<TestServer>();

async function killRedis(server: TestServer): Promise<void> {
  down.add(server);
  await server.kill9();
}

async function restartRedis(server: TestServer): Promise<void> {
  await server.restart();
  down.delete(server);
}

beforeAll(async () => {
  [postgres, redis, volatileRedis] = await Promise.all([startPostgres(), startRedis(), startRedis({ appendOnly: false })]);
  cluster = new ChildNodes({ databaseUrl: postgres.url, leaseMs: LEASE_MS });
}, 120_000);

afterAll(async () => {
  await Promise.all([redis?.stop(), volatileRedis?.stop(), postgres?.stop()]);
});

afterEach(async () => {
  // Back first: a node stops more readily with its Redis there.
  for (const server of down) await restartRedis(server);
  let leftovers = 0;
  for (const node of await cluster.stopAll()) leftovers += await removeLeftovers(docker, node.instanceId);
  // Each node removes its containers when it stops (and reaps them when it comes back).
  expect(leftovers).toBe(0);
  // The next test starts on an empty history and an empty line (its nodes set the cluster's limit).
  const { PostgresDatabase } = await import('../../src/store/postgres/pg-database.js');
  const { createLogger } = await import('../../src/logger.js');
  const db = await PostgresDatabase.open({ url: postgres.url, logger: createLogger({ level: 'silent' }) });
  await db.query('TRUNCATE runs, logs, nodes CASCADE');
  await db.close();
  for (const server of [redis, volatileRedis]) {
    const connection = new Redis(server.url);
    await connection.flushall();
    connection.disconnect();
  }
}, 60_000);

/** Starts the nodes at once on `redisUrl` (see ChildNodes); a failed test prints what they said. */
function startNodes(specs: readonly NodeSpec[], redisUrl = redis.url): Promise<TestNode[]> {
  onTestFailed(() => console.error(cluster.describe()));
  return cluster.start(specs, redisUrl);
}

/** Runs in line order, as their startedAt orders them, each from its node's clock (see the file's comment). */
function expectStartedInOrder(runs: readonly RunRow[]): void {
  // Two runs taken at once by two nodes record startedAt a moment apart, either way round; a run
  // started out of turn would be a whole run (a second and more) ahead.
  const slackMs = 1000;
  for (let i = 1; i < runs.length; i += 1) {
    const earliestLater = Math.min(...runs.slice(i).map((run) => Date.parse(run.startedAt!)));
    expect(earliestLater, `run ${i} and later ones start after run ${i - 1}`).toBeGreaterThanOrEqual(Date.parse(runs[i - 1]!.startedAt!) - slackMs);
  }
}

describe('three bosun nodes in child processes', () => {
  it('keeps the cluster limit and each node limit, as the engine sees them, and starts runs started round-robin in FIFO order', async () => {
    const env = { MAX_CONCURRENT_AGENTS: '2', NODE_MAX_CONCURRENT_AGENTS: '1' };
    const members = await startNodes([
      { name: 'node-a', env },
      { name: 'node-b', env },
      { name: 'node-c', env },
    ]);
    const watch = await watchContainers(docker, members);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 12; i += 1) ids.push((await startRun(members[i % 3]!.url, { steps: [`echo run ${i}`, 'sleep 1'] })).agentId);
      const finals = await waitForFinals(members[1]!.url, ids, 150_000);
      expect(finals.map((run) => run.status)).toEqual(ids.map(() => 'SUCCEEDED'));
      for (const run of finals) expect(['node-a', 'node-b', 'node-c']).toContain(run.node);
      // FIFO across nodes: the line's record of takes, and each run's startedAt.
      expect(await startOrder(redis.url)).toEqual(ids);
      expectStartedInOrder(finals);
      // Every container came and went, as the engine reports it: never above the limits.
      await eventually(() => watch.counts.dies === 12, 'the engine reports every container gone', 15_000);
      expect(watch.counts.starts).toBe(12);
      expect(watch.counts.maxRunning).toBe(2);
      expect(watch.counts.maxPerNode).toBe(1);
      expect(watch.counts.nodes.size).toBeGreaterThanOrEqual(2);
    } finally {
      watch.stop();
    }
  }, 240_000);

  it('ends the running runs of a node killed with SIGKILL INTERRUPTED within the lease; its waiting runs run on the others in order; back, it reaps its containers', async () => {
    const [b] = await startNodes([{ name: 'node-b', env: { MAX_CONCURRENT_AGENTS: '2', NODE_MAX_CONCURRENT_AGENTS: '2' } }]);
    const running = [(await startRun(b!.url, { steps: ['sleep 120'] })).agentId, (await startRun(b!.url, { steps: ['sleep 120'] })).agentId];
    for (const id of running) expect(await waitForStatus(b!.url, id, 'RUNNING')).toMatchObject({ node: 'node-b' });
    // The others join once B holds both slots of the cluster.
    const env = { MAX_CONCURRENT_AGENTS: '2', NODE_MAX_CONCURRENT_AGENTS: '1' };
    const [a, c] = await startNodes([
      { name: 'node-a', env },
      { name: 'node-c', env },
    ]);
    const admitters = [a!, b!, c!, a!];
    const waiting: string[] = [];
    for (const [index, node] of admitters.entries())
      waiting.push((await startRun(node.url, { steps: [`echo waiting ${index}`, 'sleep 1'] })).agentId);
    // Four waiting, in line in the order they were started, as every node sees it.
    for (const node of [a!, b!, c!]) await waitForLine(node.url, waiting, `the line on ${node.name}`);
    expect(await containersOf(docker, b!.instanceId)).toHaveLength(2);

    const killedAt = Date.now();
    b!.server.process.kill('SIGKILL');
    await b!.server.exited;
    const lost = await until('the dead node’s runs to end', 5 * LEASE_MS, async () => {
      const runs = await Promise.all(running.map((id) => readRun(a!.url, id)));
      return runs.every((run) => run.status !== 'RUNNING') ? runs : undefined;
    });
    const endedAfterMs = Date.now() - killedAt;
    for (const run of lost) {
      expect(run).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED' });
      expect(run.error).toContain('node-b');
    }
    // Within the lease, with room for a busy machine's timers.
    expect(endedAfterMs).toBeLessThan(3 * LEASE_MS);

    const finals = await waitForFinals(c!.url, waiting, 90_000);
    expect(finals.map((run) => run.status)).toEqual(waiting.map(() => 'SUCCEEDED'));
    for (const run of finals) expect(['node-a', 'node-c']).toContain(run.node);
    expect(await startOrder(redis.url)).toEqual([...running, ...waiting]);
    expectStartedInOrder(finals);

    // Its containers outlived it; back, it reaps them by its instance label.
    expect(await containersOf(docker, b!.instanceId)).toHaveLength(2);
    await cluster.restart(b!);
    await until('node B to reap its orphans', 30_000, async () => ((await containersOf(docker, b!.instanceId)).length === 0 ? true : undefined));
    // Its comeback changes nothing of what the cluster recorded.
    for (const id of running) expect(await readRun(b!.url, id)).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED' });
  }, 180_000);

  for (const appendOnly of [true, false]) {
    const variant = appendOnly ? 'that keeps its data' : 'that comes back empty';
    it(`loses no waiting run and keeps their order when Redis ${variant} is killed with SIGKILL and started again mid-queue`, async () => {
      const server = appendOnly ? redis : volatileRedis;
      const env = { MAX_CONCURRENT_AGENTS: '2', NODE_MAX_CONCURRENT_AGENTS: '1' };
      const members = await startNodes(
        [
          { name: 'node-a', env },
          { name: 'node-b', env },
          { name: 'node-c', env },
        ],
        server.url,
      );
      const watch = await watchContainers(docker, members);
      onTestFailed(() => watch.stop());
      // Two hold the slots long enough for the kill to come mid-queue; six wait behind them.
      const holding = [
        (await startRun(members[0]!.url, { steps: ['sleep 5'] })).agentId,
        (await startRun(members[1]!.url, { steps: ['sleep 5'] })).agentId,
      ];
      const waiting: string[] = [];
      for (let i = 0; i < 6; i += 1) waiting.push((await startRun(members[(i + 2) % 3]!.url, { steps: [`echo waiting ${i}`, 'sleep 1'] })).agentId);
      for (const id of holding) await waitForStatus(members[2]!.url, id, 'RUNNING');
      await waitForLine(members[2]!.url, waiting, 'the waiting runs in line on node C');
      // What Redis recorded of the starts before it dies (the empty one forgets it).
      const before = await startOrder(server.url);
      expect(before).toEqual(holding);

      await killRedis(server);
      await restartRedis(server);

      const all = [...holding, ...waiting];
      const finals = await waitForFinals(members[0]!.url, all, 120_000);
      expect(finals.map((run) => run.status)).toEqual(all.map(() => 'SUCCEEDED'));
      // Each waiting run ran once, and they started in their order.
      const after = await startOrder(server.url);
      // The variant is what it says: Redis kept its record of the first starts, or came back without it.
      if (appendOnly) expect(after.slice(0, 2)).toEqual(holding);
      else expect(after).not.toContain(holding[0]);
      expect([...new Set([...before, ...after])]).toEqual(all);
      expectStartedInOrder(finals.slice(2));
      for (const member of members) expect(isAlive(member)).toBe(true);
      // One container a run: none ran twice (the empty Redis got them back once, from PostgreSQL).
      await eventually(() => watch.counts.dies === all.length, 'the engine reports every container gone', 15_000);
      watch.stop();
      expect(watch.counts.starts).toBe(all.length);
      expect(watch.counts.maxPerNode).toBe(1);
      // With its data, Redis still counts the runs that held the slots. Empty, it counts them again:
      // their slots are held from PostgreSQL before any run is admitted, and their nodes take them
      // over (bullmq-reset-scripts.ts), so restored runs do not start beside them.
      expect(watch.counts.maxRunning).toBe(2);
    }, 180_000);
  }

  it('answers startAgent UNAVAILABLE while Redis is away, lets running runs finish, and admits runs again once it is back', async () => {
    // The test asks again and again until a node admits runs: more than the default rate allows.
    const env = { MAX_CONCURRENT_AGENTS: '2', NODE_MAX_CONCURRENT_AGENTS: '1', START_RATE_PER_MINUTE: '100000' };
    const members = await startNodes([
      { name: 'node-a', env },
      { name: 'node-b', env },
      { name: 'node-c', env },
    ]);
    const { agentId: runningId } = await startRun(members[0]!.url, { steps: ['echo before', 'sleep 3', 'echo after'] });
    const { node: runner } = await waitForStatus(members[0]!.url, runningId, 'RUNNING');

    await killRedis(redis);
    for (const member of members) {
      const { errors } = await tryStart(member.url, ['true']);
      expect(errors?.[0]?.extensions?.['code']).toBe('UNAVAILABLE');
      expect(errors?.[0]?.message).toMatch(/Redis/);
    }
    // The running run goes on and ends SUCCEEDED while Redis is still away.
    const ended = await until('the running run to finish without Redis', 30_000, async () => {
      const run = await readRun(members[1]!.url, runningId);
      return isFinal(run) ? run : undefined;
    });
    expect(ended).toMatchObject({ status: 'SUCCEEDED', node: runner });
    for (const member of members) expect(isAlive(member)).toBe(true);

    await restartRedis(redis);
    // Each node reconnects by itself and admits runs again.
    const admitted: string[] = [];
    for (const member of members) {
      admitted.push(
        await until(`node ${member.name} to admit runs again`, 30_000, async () => {
          const { errors, agentId } = await tryStart(member.url, ['echo back']);
          if (errors !== undefined) {
            expect(errors[0]?.extensions?.['code']).toBe('UNAVAILABLE');
            return undefined;
          }
          return agentId;
        }),
      );
    }
    const finals = await waitForFinals(members[2]!.url, admitted, 60_000);
    expect(finals.map((run) => run.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    // The run that ended while Redis was away holds no slot, and its record is unchanged.
    for (const member of members) {
      await until(`the cluster to be idle on ${member.name}`, 3 * LEASE_MS, async () => {
        const { queueStatus } = await gql<{ queueStatus: { running: number; queued: number } }>(
          member.url,
          'query { queueStatus { running queued } }',
        );
        return queueStatus.running === 0 && queueStatus.queued === 0 ? true : undefined;
      });
    }
    expect(await readRun(members[2]!.url, runningId)).toEqual(ended);
  }, 180_000);

  it('forwards the calls on a run to the node that runs it: exec, files and finish of an external run, and a cancel', async () => {
    const members = await startNodes([{ name: 'node-a' }, { name: 'node-b' }, { name: 'node-c' }]);
    const { agentId } = await startRun(members[0]!.url, { agent: 'external' });
    const running = await waitForStatus(members[0]!.url, agentId, 'RUNNING');
    const runner = members.find((member) => member.name === running.node)!;
    const [first, second] = members.filter((member) => member !== runner) as [TestNode, TestNode];

    // Sent to a node that does not run it: served in the runner's sandbox.
    const ran = await exec(first.url, agentId, 'cat /etc/hostname && echo "$((6 * 7))"');
    expect(ran).toMatchObject({ exitCode: 0 });
    const [hostname, answer] = ran.stdout.trim().split('\n');
    expect(answer).toBe('42');
    const [container] = await containersOf(docker, runner.instanceId);
    expect(container?.startsWith(hostname!)).toBe(true);
    await gql(second.url, 'mutation ($id: ID!, $files: [FileInput!]!) { writeFiles(agentId: $id, files: $files) { path } }', {
      id: agentId,
      files: [{ path: '/workspace/from-elsewhere.txt', content: `written through ${second.name}` }],
    });
    const read = await gql<{ readFile: { content: string } }>(
      first.url,
      'query ($id: ID!) { readFile(agentId: $id, path: "/workspace/from-elsewhere.txt") { content } }',
      {
        id: agentId,
      },
    );
    expect(read.readFile.content).toBe(`written through ${second.name}`);
    const finished = await gql<{ finishAgent: { status: string; node: string } }>(
      second.url,
      'mutation ($id: ID!) { finishAgent(agentId: $id, exitCode: 0) { status node } }',
      { id: agentId },
    );
    expect(finished.finishAgent).toEqual({ status: 'SUCCEEDED', node: runner.name });

    // A shell run cancelled from a node that does not run it stops where it runs.
    const { agentId: sleeper } = await startRun(first.url, { steps: ['sleep 120'] });
    const sleeping = await waitForStatus(first.url, sleeper, 'RUNNING');
    const owner = members.find((member) => member.name === sleeping.node)!;
    const other = members.find((member) => member !== owner)!;
    const cancelled = await gql<{ cancelAgent: { status: string; node: string } }>(
      other.url,
      'mutation ($id: ID!) { cancelAgent(id: $id) { status node } }',
      {
        id: sleeper,
      },
    );
    expect(cancelled.cancelAgent).toEqual({ status: 'CANCELLED', node: owner.name });
    await until(`${owner.name}'s containers to go`, 20_000, async () =>
      (await containersOf(docker, owner.instanceId)).length === 0 ? true : undefined,
    );
  }, 120_000);

  it('gives a watcher on node C the exact, decreasing positions of a run queued on node A, to its start', async () => {
    const env = { MAX_CONCURRENT_AGENTS: '1', NODE_MAX_CONCURRENT_AGENTS: '1' };
    const [a, b, c] = await startNodes([
      { name: 'node-a', env },
      { name: 'node-b', env },
      { name: 'node-c', env },
    ]);
    const members = [a!, b!, c!];
    // One run holds the one slot until it is cancelled; three wait ahead of the watched run.
    const { agentId: holder } = await startRun(b!.url, { steps: ['sleep 120'] });
    const holding = await waitForStatus(b!.url, holder, 'RUNNING');
    const ahead: string[] = [];
    for (let i = 0; i < 3; i += 1) ahead.push((await startRun(members[i]!.url, { steps: [`echo ahead ${i}`, 'sleep 1'] })).agentId);
    const watched = await startRun(a!.url, { steps: ['echo watched'] });
    expect(watched.queue.position).toBe(4);
    for (const member of members) {
      await until(`the position on ${member.name}`, 10_000, async () =>
        (await readRun(member.url, watched.agentId)).position === 4 ? true : undefined,
      );
    }

    const client = createWsClient(c!.wsUrl);
    try {
      type Update = { position: number; queued: number; running: number; status: string };
      const updates = collect(
        client.iterate<{ queuePositionChanged: Update }>({
          query: 'subscription ($id: ID!) { queuePositionChanged(agentId: $id) { position queued running status } }',
          variables: { id: watched.agentId },
        }) as AsyncIterator<Result<{ queuePositionChanged: Update }>>,
      );
      await eventually(() => updates.results.length > 0, 'the position now comes', 10_000);
      expect(updates.results[0]!.data!.queuePositionChanged).toEqual({ position: 4, queued: 4, running: 1, status: 'QUEUED' });
      // Queried on A, the run that queued it, at the same moment: the same.
      const { queueStatus } = await gql<{ queueStatus: { queued: number; running: number } }>(a!.url, 'query { queueStatus { queued running } }');
      expect(queueStatus).toEqual({ queued: 4, running: 1 });

      // Cancelled on a node that does not run it (sent on to the one that does), the holder frees the slot.
      const elsewhere = members.find((member) => member.name !== holding.node)!;
      const cancelled = await gql<{ cancelAgent: { status: string } }>(elsewhere.url, 'mutation ($id: ID!) { cancelAgent(id: $id) { status } }', {
        id: holder,
      });
      expect(cancelled.cancelAgent.status).toBe('CANCELLED');
      await within(updates.ended, 'queuePositionChanged on node C to complete', 60_000).catch((error: unknown) => {
        throw new Error(`${String(error)}; received ${JSON.stringify(updates.results.map((result) => result.data))}`);
      });
      const received = updates.results.map((result) => result.data!.queuePositionChanged);
      // Exact at every change: each run ahead that starts moves it up by one, to its own start.
      const positions = received.map((update) => update.position).filter((position, index, all) => index === 0 || position !== all[index - 1]);
      expect(positions).toEqual([4, 3, 2, 1, 0]);
      for (const update of received.filter((entry) => entry.status === 'QUEUED')) expect(update.queued).toBe(update.position);
      expect(received.at(-1)!.status).not.toBe('QUEUED');
      expect(await readRun(a!.url, watched.agentId)).toMatchObject({ position: 0 });
      const finals = await waitForFinals(a!.url, [...ahead, watched.agentId], 60_000);
      expect(finals.map((run) => run.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    } finally {
      await client.dispose();
    }
  }, 120_000);
});
