/**
 * Review (#17): ClusterNode.recordLost takes the cluster-wide 'lost-runs' advisory lock once per lost
 * run, each on a pooled connection of its own, and markLost then needs the same pool (read the run,
 * flush its end). A node that dies with more running runs than the pool has connections (10 by
 * default) has them all claimed at once by one node (the queue's stalled check fails them together).
 */
import { describe, expect, it } from 'vitest';
import { usePgTestDatabase } from '../store/postgres/pg-test-database.js';

const pg = usePgTestDatabase();

describe("the 'lost-runs' lock, taken once per lost run", () => {
  it('records twelve runs lost at once without running the pool dry', async () => {
    // The cluster's own pool: the default size (10) and a 5 s connection timeout, as openClusterBackends opens it.
    const db = await pg.openAnother({ connectionTimeoutMs: 5_000 });
    // What recordLost does for each lost run: the lock, then markLost's reads and writes on the pool.
    const recordLost = (id: number) =>
      db.withAdvisoryLock('lost-runs', async () => {
        await db.query('SELECT $1::int AS id', [id]);
        return id;
      });
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => recordLost(i)));
    const failed = results.filter((result) => result.status === 'rejected').map((result) => String(result.reason));
    expect(failed).toEqual([]);
  }, 120_000);
});
