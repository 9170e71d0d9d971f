/**
 * PostgresDatabase's advisory locks, what the cluster's recovery and pruning coordinate with: one
 * holder at a time across nodes (pools), released when the work ends, fails, or its node's
 * session dies.
 */
import { describe, expect, it } from 'vitest';
import { usePgTestDatabase } from './pg-test-database.js';

const pg = usePgTestDatabase();

/** A promise and the function that resolves it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('advisory locks', () => {
  it('let one node at a time hold a lock: another waits for it, or learns at once that it is held', async () => {
    const nodeA = pg.db;
    const nodeB = await pg.openAnother();
    const events: string[] = [];
    const release = gate();
    const entered = gate();
    const holding = nodeA.withAdvisoryLock('recover-node-x', async () => {
      events.push('A in');
      entered.open();
      await release.promise;
      events.push('A out');
      return 'A';
    });
    await entered.promise;
    expect(await nodeB.tryWithAdvisoryLock('recover-node-x', () => Promise.resolve('B'))).toEqual({ acquired: false });
    // Another name is another lock.
    expect(await nodeB.tryWithAdvisoryLock('recover-node-y', () => Promise.resolve('B'))).toEqual({ acquired: true, value: 'B' });
    const waiting = nodeB.withAdvisoryLock('recover-node-x', () => {
      events.push('B in');
      return Promise.resolve('B');
    });
    // B is blocked on the server for as long as A holds the lock.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(events).toEqual(['A in']);
    release.open();
    expect(await holding).toBe('A');
    expect(await waiting).toBe('B');
    expect(events).toEqual(['A in', 'A out', 'B in']);
  });

  it('release a lock when the work throws, and when the holding session dies', async () => {
    const nodeA = pg.db;
    const nodeB = await pg.openAnother();
    await expect(nodeA.withAdvisoryLock('l', () => Promise.reject(new Error('recovery failed')))).rejects.toThrow('recovery failed');
    expect(await nodeB.tryWithAdvisoryLock('l', () => Promise.resolve(1))).toEqual({ acquired: true, value: 1 });

    const entered = gate();
    const holding = nodeA.withAdvisoryLock('l', async () => {
      entered.open();
      // The node's session is killed (as its host would be) while it holds the lock.
      await nodeB.query("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()");
      // The dead connection reports its error while no statement of it runs: that must not end the process.
      await new Promise((resolve) => setTimeout(resolve, 300));
      return 'done';
    });
    await entered.promise;
    await holding;
    expect(await nodeB.tryWithAdvisoryLock('l', () => Promise.resolve(2))).toEqual({ acquired: true, value: 2 });
    // The pool replaced the killed connection.
    expect((await nodeA.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });
});

describe('advisory locks taken by many callers of one process at once', () => {
  it('pin one pooled connection per lock, so that the holder still has the pool for its queries', async () => {
    // The cluster's pool as openClusterBackends opens it: 10 connections, a 5 s connection timeout.
    const db = await pg.openAnother({ connectionTimeoutMs: 5_000 });
    // Twelve runs recorded lost at once (ClusterNode.recordLost): each takes the lock, then queries.
    const recordLost = (id: number) =>
      db.withAdvisoryLock('lost-runs', async () => {
        await db.query('SELECT $1::int AS id', [id]);
        return id;
      });
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => recordLost(i)));
    expect(results.filter((result) => result.status === 'rejected').map((result) => String(result.reason))).toEqual([]);
    expect(results.map((result) => (result.status === 'fulfilled' ? result.value : -1))).toEqual(Array.from({ length: 12 }, (_, i) => i));
    // Held in this process, a lock is not free to try.
    let release!: () => void;
    const holding = db.withAdvisoryLock('held', () => new Promise<void>((resolve) => (release = resolve)));
    await expect.poll(() => release !== undefined).toBe(true);
    expect(await db.tryWithAdvisoryLock('held', () => Promise.resolve(1))).toEqual({ acquired: false });
    release();
    await holding;
    expect(await db.tryWithAdvisoryLock('held', () => Promise.resolve(1))).toEqual({ acquired: true, value: 1 });
  }, 60_000);
});

describe('waiting for an advisory lock', () => {
  it('ends when its signal aborts, without running the work, and leaves the lock to the others', async () => {
    const nodeA = pg.db;
    const nodeB = await pg.openAnother();
    const release = gate();
    const entered = gate();
    const holding = nodeA.withAdvisoryLock('recovery', async () => {
      entered.open();
      await release.promise;
    });
    await entered.promise;
    const aborter = new AbortController();
    let ran = false;
    const waiting = nodeB.withAdvisoryLock(
      'recovery',
      () => {
        ran = true;
        return Promise.resolve();
      },
      aborter.signal,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    aborter.abort(new Error('shutting down'));
    await expect(waiting).rejects.toThrow('shutting down');
    expect(ran).toBe(false);
    release.open();
    await holding;
    expect(await nodeB.tryWithAdvisoryLock('recovery', () => Promise.resolve('B'))).toEqual({ acquired: true, value: 'B' });
    await expect(nodeB.withAdvisoryLock('recovery', () => Promise.resolve(), AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
  });
});
