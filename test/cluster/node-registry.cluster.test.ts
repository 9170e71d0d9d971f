/**
 * The roll of nodes on a real PostgreSQL: joins, heartbeats, the lease by the server's clock, one
 * node handling a dead node's death, and a heartbeat that outlives a PostgreSQL restart. Each
 * registry has a pool of its own, as a node would.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BosunError } from '../../src/errors.js';
import { NodeRegistry, type NodeFigures, type NodeHealth, type NodeInfo } from '../../src/cluster/node-registry.js';
import type { PostgresDatabase } from '../../src/store/postgres/pg-database.js';
import { PgNodeRegistry } from '../../src/store/postgres/pg-node-registry.js';
import { until } from '../helpers/e2e.js';
import { createTestLogger, type TestLogger } from '../helpers/test-logger.js';
import { usePgTestDatabase } from '../store/postgres/pg-test-database.js';

const pg = usePgTestDatabase();

/** Short, so that the tests see nodes die; the heartbeat beats every 500 ms. */
const LEASE_MS = 1_500;
/** Long enough for several leases on a busy machine. */
const WAIT_MS = 15_000;

interface TestNode {
  readonly registry: NodeRegistry;
  readonly store: PgNodeRegistry;
  readonly logger: TestLogger;
  readonly info: NodeInfo;
  /** What the next heartbeat carries. */
  figures: NodeFigures;
  /** While set, the heartbeat waits for it before it reads the figures (a node slow to beat). */
  hold: Promise<void> | undefined;
  readonly lost: string[];
}

const opened: TestNode[] = [];
/** Opens the holds of a failed test, so that closing its registries does not wait for them. */
const releases: (() => void)[] = [];

function info(name: string, instanceId = `instance-${name}`): NodeInfo {
  return { name, instanceId, url: `http://${name}.test:4000`, capacity: 2, engineVersion: '27.0.1' };
}

function figures(running: number): NodeFigures {
  return { running, containers: { total: running, healthy: running, warning: 0, critical: 0 }, recommendedConcurrency: running === 0 ? null : 3 };
}

/** A node's registry on `db` (default: a pool of its own), not joined yet. */
async function node(nodeInfo: NodeInfo, db?: PostgresDatabase): Promise<TestNode> {
  const store = new PgNodeRegistry(db ?? (await pg.openAnother({ connectionTimeoutMs: 1_000 })));
  const logger = createTestLogger();
  const lost: string[] = [];
  const created: TestNode = {
    store,
    logger,
    info: nodeInfo,
    figures: figures(0),
    hold: undefined,
    lost,
    registry: new NodeRegistry({
      store,
      leaseMs: LEASE_MS,
      figures: async () => {
        await created.hold;
        return created.figures;
      },
      logger,
      onLost: (reason) => lost.push(reason),
    }),
  };
  opened.push(created);
  return created;
}

async function joined(nodeInfo: NodeInfo, db?: PostgresDatabase): Promise<TestNode> {
  const created = await node(nodeInfo, db);
  await created.registry.join(nodeInfo);
  return created;
}

async function listed(registry: NodeRegistry, name: string): Promise<NodeHealth | undefined> {
  return (await registry.list()).find((entry) => entry.name === name);
}

/** Waits until `registry` may judge the others: it has been heartbeating for a lease. */
async function judging(registry: NodeRegistry, expired: string): Promise<void> {
  await until(`${expired} expired`, WAIT_MS, async () =>
    (await registry.expiredNodes()).some((entry) => entry.name === expired) ? true : undefined,
  );
}

beforeEach(async () => {
  await pg.db.query('DELETE FROM nodes');
});

afterEach(async () => {
  for (const release of releases.splice(0)) release();
  await Promise.all(opened.splice(0).map((created) => created.registry.close()));
});

describe('NodeRegistry on PostgreSQL', () => {
  it('lists a joined node as reachable, and its heartbeat renews it with its live figures', async () => {
    const a = await node(info('a'));
    a.figures = figures(1);
    const join = await a.registry.join(a.info);
    expect(join.previous).toBeNull();
    expect(join.previousUnhandled).toBe(false);
    const first = await listed(a.registry, 'a');
    expect(first).toMatchObject({
      name: 'a',
      instanceId: 'instance-a',
      url: 'http://a.test:4000',
      reachable: true,
      running: 1,
      capacity: 2,
      engineVersion: '27.0.1',
      containers: { total: 1, healthy: 1, warning: 0, critical: 0 },
      recommendedConcurrency: 3,
      stoppedAt: null,
    });

    a.figures = { running: 2, containers: { total: 3, healthy: 1, warning: 1, critical: 1 }, recommendedConcurrency: 1 };
    const renewed = await until('a heartbeat with the new figures', WAIT_MS, async () => {
      const entry = await listed(a.registry, 'a');
      return entry?.running === 2 ? entry : undefined;
    });
    expect(renewed.containers).toEqual({ total: 3, healthy: 1, warning: 1, critical: 1 });
    expect(renewed.recommendedConcurrency).toBe(1);
    expect(renewed.lastSeenAt.getTime()).toBeGreaterThan(first!.lastSeenAt.getTime());
    expect(renewed.startedAt).toEqual(first!.startedAt);
    // Another node sees the same.
    const b = await joined(info('b'));
    expect(await listed(b.registry, 'a')).toMatchObject({ reachable: true, running: 2 });
  });

  it("refuses a name held by a live node of another instance, and takes over a dead node's name", async () => {
    const a = await joined(info('a'));
    const impostor = await node(info('a', 'instance-other'));
    const refused = impostor.registry.join(impostor.info);
    await expect(refused).rejects.toBeInstanceOf(BosunError);
    await expect(refused).rejects.toMatchObject({
      code: 'INVALID_STATE',
      message: expect.stringContaining('"a" is held by a live node (instance instance-a') as string,
    });
    const aSelf = a.registry.self!;

    // a dies (its heartbeat stops, as with kill -9); once its lease runs out its name is free.
    await a.registry.close();
    await until('a unreachable', WAIT_MS, async () => ((await listed(impostor.registry, 'a'))?.reachable === false ? true : undefined));
    const successor = await node(info('a', 'instance-other'));
    const join = await successor.registry.join(successor.info);
    expect(join.previous).toMatchObject({ instanceId: 'instance-a', reachable: false });
    // Nobody handled a's death: its runs are the successor's to recover.
    expect(join.previousUnhandled).toBe(true);
    expect(await listed(successor.registry, 'a')).toMatchObject({ instanceId: 'instance-other', reachable: true });
    // The old life can no longer renew the row.
    expect(await a.store.beat(aSelf, figures(0), LEASE_MS)).toBe(false);
  });

  it('tells a node whose name was taken while it could not beat that it lost its place, once', async () => {
    const a = await joined(info('a'));
    // Another instance takes the name over from under a live a (as after a partition): a's next beat finds out.
    await pg.db.query("UPDATE nodes SET instance_id = 'instance-b', incarnation = incarnation + 1 WHERE name = 'a'");
    await until('a lost', WAIT_MS, () => Promise.resolve(a.lost.length > 0 ? true : undefined));
    expect(a.lost).toEqual([expect.stringContaining('node "a" lost its place in the cluster')]);
  });

  it("expires a silent node by the database's clock, and one node alone handles its death, once", async () => {
    const a = await joined(info('a'));
    const b = await joined(info('b'));
    const c = await joined(info('c'));
    await c.registry.close();
    // Each judge sees c expired once c is past the lease and the judge has beaten for a lease itself.
    await judging(a.registry, 'c');
    await judging(b.registry, 'c');
    const unreachable = await listed(a.registry, 'c');
    expect(unreachable).toMatchObject({ reachable: false, stoppedAt: null });
    // By the server's clock: the last heartbeat is older than the lease at the server's now().
    const { rows } = await pg.db.query<{ past: boolean }>(
      "SELECT now() - last_seen_at > $1::double precision * interval '1 millisecond' AS past FROM nodes WHERE name = 'c'",
      [LEASE_MS],
    );
    expect(rows).toEqual([{ past: true }]);

    // A handler that fails leaves the death unhandled: the next sweep tries again.
    await expect(a.registry.claimExpired('c', () => Promise.reject(new Error('store away')))).rejects.toThrow('store away');
    expect((await a.registry.expiredNodes()).map((entry) => entry.name)).toEqual(['c']);

    const handled: string[] = [];
    const handler = (by: string) => async (dead: NodeHealth) => {
      handled.push(`${by}:${dead.name}:${dead.instanceId}`);
      // Long enough for the other claim to meet the lock.
      await new Promise((resolve) => setTimeout(resolve, 200));
      return by;
    };
    const results = await Promise.all([a.registry.claimExpired('c', handler('a')), b.registry.claimExpired('c', handler('b'))]);
    expect(handled).toHaveLength(1);
    expect(results.filter((result) => result.claimed)).toHaveLength(1);
    // Handled: no longer expired for anyone, and not claimed again.
    expect(await a.registry.expiredNodes()).toEqual([]);
    expect(await b.registry.expiredNodes()).toEqual([]);
    expect(await b.registry.claimExpired('c', handler('b'))).toEqual({ claimed: false });
    expect(handled).toHaveLength(1);

    // c comes back (same instance id): a new life, its old one already handled, and not handled again.
    const back = await node(info('c'));
    const join = await back.registry.join(back.info);
    expect(join.previousUnhandled).toBe(false);
    expect(await listed(a.registry, 'c')).toMatchObject({ reachable: true });
    expect(await a.registry.claimExpired('c', handler('a'))).toEqual({ claimed: false });
    expect(await a.registry.expiredNodes()).toEqual([]);
    expect(handled).toHaveLength(1);
  });

  it('does not count a node that left gracefully as expired', async () => {
    const a = await joined(info('a'));
    const left = await joined(info('left'));
    const died = await joined(info('died'));
    await left.registry.leave();
    await died.registry.close();
    expect(await listed(a.registry, 'left')).toMatchObject({ reachable: false, running: 0, stoppedAt: expect.any(Date) as Date });
    // Both are past the lease once a sees the one that died expired.
    await judging(a.registry, 'died');
    expect((await a.registry.expiredNodes()).map((entry) => entry.name)).toEqual(['died']);
    expect(await a.registry.claimExpired('left', () => Promise.resolve('handled'))).toEqual({ claimed: false });
  });

  it('keeps beating through a PostgreSQL restart, logging the outage once, and judges nobody until it has beaten for a lease again', async () => {
    const a = await joined(info('a'), await pg.openAnother({ connectionTimeoutMs: 1_000, statementTimeoutMs: 2_000 }));
    const b = await joined(info('b'), await pg.openAnother({ connectionTimeoutMs: 1_000, statementTimeoutMs: 2_000 }));
    await pg.server.halt();
    const haltedAt = Date.now();
    const failed = (logger: TestLogger) => logger.entries.filter((entry) => entry.msg?.startsWith('node registry: the heartbeat failed'));
    // Down for longer than the lease, with several beats failing meanwhile.
    await until('the outage outlasts the lease', WAIT_MS, () =>
      Promise.resolve(Date.now() - haltedAt > 2 * LEASE_MS && failed(a.logger).length > 0 && failed(b.logger).length > 0 ? true : undefined),
    );
    // b is slow to beat again: past the lease in the table, though alive.
    let release!: () => void;
    b.hold = new Promise((resolve) => (release = resolve));
    releases.push(release);
    await pg.server.restart();
    const recovered = (logger: TestLogger) => logger.entries.some((entry) => entry.msg?.startsWith('node registry: the heartbeat works again'));
    await until('a beats again', WAIT_MS, () => Promise.resolve(recovered(a.logger) ? true : undefined));
    // Every node was silent past the lease, but a has just come back: it does not call b dead.
    expect(await a.registry.expiredNodes()).toEqual([]);
    expect(await listed(a.registry, 'b')).toMatchObject({ reachable: false });
    b.hold = undefined;
    release();
    await until('b beats again', WAIT_MS, () => Promise.resolve(recovered(b.logger) ? true : undefined));
    expect(failed(a.logger)).toHaveLength(1);
    expect(await listed(a.registry, 'a')).toMatchObject({ reachable: true });
    expect(await listed(a.registry, 'b')).toMatchObject({ reachable: true });
    expect(a.lost).toEqual([]);
  });
});
