/**
 * Self-fencing (issue 17): a node cut off from PostgreSQL but not from Redis stops taking runs
 * from the cluster's line (the other nodes take them), and takes them again once PostgreSQL is
 * back. Two nodes built as main.ts builds them, in this process, on one real Redis, one real
 * PostgreSQL and the real Docker engine; node A reaches PostgreSQL through a TCP proxy the test
 * cuts, node B directly (it keeps its PostgreSQL).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AppBackends } from '../../src/app-backends.js';
import { type BosunApp } from '../../src/app.js';
import { emptyClusterStores, openClusterApp } from '../helpers/cluster-app.js';
import { startPostgres, startRedis, type TestServer } from '../helpers/cluster-servers.js';
import { createTestDocker, removeLeftovers } from '../helpers/docker.js';
import { gql, startRun, until } from '../helpers/e2e.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { type LogEntry } from '../helpers/test-logger.js';

/**
 * Long enough that the test does its part between the fence (two thirds of it after A's last
 * renewal) and the end of A's lease (when B would judge A dead) on a busy machine: 12 s.
 */
const LEASE_MS = 36_000;

let redis: TestServer;
let postgres: TestServer;
const docker = createTestDocker();
const opened: { readonly app: BosunApp; readonly instanceId: string }[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  [redis, postgres] = await Promise.all([startRedis(), startPostgres()]);
}, 120_000);

afterAll(async () => {
  await Promise.all([redis?.stop(), postgres?.stop()]);
});

afterEach(async () => {
  // A failed test may leave A cut off: it closes with its PostgreSQL back.
  for (const proxy of proxies) proxy.restore();
  for (const node of opened.splice(0).reverse()) {
    await node.app.close(0);
    await removeLeftovers(docker, node.instanceId);
  }
  await Promise.all(proxies.splice(0).map((proxy) => proxy.stop()));
  await emptyClusterStores({ redisUrl: redis.url, databaseUrl: postgres.url });
}, 60_000);

interface TestNode {
  readonly app: BosunApp;
  readonly backends: AppBackends;
  readonly url: string;
}

/** Node `name`, started, on this file's Redis and on PostgreSQL at `databaseUrl` (see openClusterApp). */
async function startNode(name: string, databaseUrl: string, logged: LogEntry[]): Promise<TestNode> {
  const { app, backends, instanceId } = await openClusterApp(
    name,
    { REDIS_URL: redis.url, BOSUN_DB_URL: databaseUrl, NODE_LEASE_MS: String(LEASE_MS) },
    logged,
  );
  opened.push({ app, instanceId });
  const { url } = await app.start();
  return { app, backends, url };
}

interface RunRow {
  readonly status: string;
  readonly node: string | null;
}

async function readRun(url: string, id: string): Promise<RunRow> {
  return (await gql<{ agentRun: RunRow }>(url, 'query ($id: ID!) { agentRun(id: $id) { status node } }', { id })).agentRun;
}

function waitForRun(url: string, id: string, what: string, done: (run: RunRow) => boolean): Promise<RunRow> {
  return until(`run ${id} ${what}`, 60_000, async () => {
    const run = await readRun(url, id);
    return done(run) ? run : undefined;
  });
}

const FINAL = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'];

function logged(entries: LogEntry[], start: string): LogEntry | undefined {
  return entries.find((entry) => entry.msg?.startsWith(start));
}

describe('a node cut off from PostgreSQL, but not from Redis', () => {
  it('stops taking runs from the line, which another node takes, and takes them again once PostgreSQL is back', async () => {
    const proxy = new TcpProxy({ host: '127.0.0.1', port: postgres.port });
    proxies.push(proxy);
    await proxy.start();
    const throughProxy = new URL(postgres.url);
    throughProxy.port = String(proxy.port);
    const aLog: LogEntry[] = [];
    const bLog: LogEntry[] = [];
    await startNode('node-a', throughProxy.toString(), aLog);
    const b = await startNode('node-b', postgres.url, bLog);
    // Only A takes runs while B's share is paused: a run B did not take is A's.
    await b.backends.nodeQueue.pause();
    const before = await startRun(b.url, { steps: ['echo before'] });
    expect(await waitForRun(b.url, before.agentId, 'to finish', (run) => FINAL.includes(run.status))).toMatchObject({
      status: 'SUCCEEDED',
      node: 'node-a',
    });

    proxy.cutOff();
    const fenced = await until('node A to fence itself', LEASE_MS, () => Promise.resolve(logged(aLog, 'node fenced')));
    expect(fenced.level).toBe('warn');
    expect(fenced.msg).toContain('its lease has not been renewed since');

    // Enqueued on B (which has its PostgreSQL): A, the only node not paused, must leave it waiting.
    const during = await startRun(b.url, { steps: ['echo during'] });
    await until('the run to wait in the line', 10_000, () => Promise.resolve(b.app.queue.stats().queued === 1 ? true : undefined));
    await b.backends.nodeQueue.resume();
    expect(await waitForRun(b.url, during.agentId, 'to be taken', (run) => run.node !== null)).toMatchObject({ node: 'node-b' });

    // PostgreSQL back within A's lease: its next heartbeat renews it, and it takes runs again.
    proxy.restore();
    const unfenced = await until('node A to take runs again', LEASE_MS, () => Promise.resolve(logged(aLog, 'node no longer fenced')));
    expect(unfenced.level).toBe('info');
    expect(await waitForRun(b.url, during.agentId, 'to finish', (run) => FINAL.includes(run.status))).toMatchObject({
      status: 'SUCCEEDED',
      node: 'node-b',
    });
    await b.backends.nodeQueue.pause();
    const after = await startRun(b.url, { steps: ['echo after'] });
    expect(await waitForRun(b.url, after.agentId, 'to finish', (run) => FINAL.includes(run.status))).toMatchObject({
      status: 'SUCCEEDED',
      node: 'node-a',
    });
    // Each change logged once; A kept its place in the cluster; B was never fenced.
    expect(aLog.filter((entry) => entry.msg?.startsWith('node fenced'))).toHaveLength(1);
    expect(aLog.filter((entry) => entry.msg?.startsWith('node no longer fenced'))).toHaveLength(1);
    expect(logged(aLog, 'node "node-a" lost its place')).toBeUndefined();
    expect(logged(bLog, 'node fenced')).toBeUndefined();
  }, 180_000);
});
