/**
 * The fence's logic: when a node holds its share of the line paused, what lifts it, and what it
 * logs. The lease and the store are emitters the test drives (the registry's doubt is tested in
 * node-registry.test.ts, the whole on PostgreSQL in test/app/cluster-fence.cluster.test.ts).
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { NodeFence, type FencedStoreReport } from '../../src/cluster/node-fence.js';
import type { NodeLeaseEvents } from '../../src/cluster/node-registry.js';
import { PauseHolds } from '../../src/queue/pause-holds.js';
import { createTestLogger, type TestLogger } from '../helpers/test-logger.js';
import { until } from '../helpers/e2e.js';

const OK: FencedStoreReport = { status: 'OK', error: null };
const DEGRADED: FencedStoreReport = { status: 'DEGRADED', error: 'log lines: connect ECONNREFUSED' };
const UNSURE = { renewedAt: new Date('2026-03-01T12:00:00Z'), doubtMs: 2_000 };

function setup(initial: FencedStoreReport = OK) {
  const calls: string[] = [];
  const share = {
    failures: 0,
    pause: () => {
      calls.push('pause');
      return Promise.resolve();
    },
    resume: () => {
      calls.push('resume');
      if (share.failures > 0) {
        share.failures -= 1;
        return Promise.reject(new Error('Redis is away'));
      }
      return Promise.resolve();
    },
  };
  const holds = new PauseHolds(share);
  const lease = new EventEmitter<NodeLeaseEvents>();
  const store = { events: new EventEmitter<{ status: [FencedStoreReport] }>(), now: initial, report: () => store.now };
  const logger: TestLogger = createTestLogger();
  const fence = new NodeFence({ name: 'node-a', lease, store, share: holds.holder('fence'), logger, retryDelayMs: 10 });
  const setStore = (report: FencedStoreReport) => {
    store.now = report;
    store.events.emit('status', report);
  };
  const logged = () => logger.entries.filter((entry) => entry.msg?.startsWith('node ')).map((entry) => `${entry.level}: ${entry.msg}`);
  return { calls, share, holds, lease, setStore, fence, logged };
}

/** Lets the pauses and resumes under way settle. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('NodeFence', () => {
  it('holds the share while the lease is unsure, and lifts it once a heartbeat renews it, logging each change once', async () => {
    const { calls, holds, lease, fence, logged } = setup();
    fence.start();
    await settled();
    expect(calls).toEqual([]);
    lease.emit('lease-unsure', UNSURE);
    await settled();
    expect(calls).toEqual(['pause']);
    expect(holds.reasons).toEqual(['fence']);
    expect(fence.fenced).toBe(true);
    expect(logged()).toEqual([
      "warn: node fenced: it takes no runs from the cluster's line while its lease has not been renewed since 2026-03-01T12:00:00.000Z, for more than 2000 ms (two thirds of NODE_LEASE_MS): PostgreSQL is away or too slow, and the other nodes may soon judge it dead; its running runs go on, and the other nodes take the waiting ones",
    ]);
    lease.emit('lease-renewed');
    await settled();
    expect(calls).toEqual(['pause', 'resume']);
    expect(holds.paused).toBe(false);
    expect(logged()).toHaveLength(2);
    expect(logged()[1]).toBe('info: node no longer fenced: its lease is renewed and its store is OK, it takes runs from the line again');
    await fence.close();
  });

  it('stays fenced until both the lease and the store are fine, and logs only the changes', async () => {
    const { calls, lease, setStore, fence, logged } = setup();
    fence.start();
    setStore(DEGRADED);
    lease.emit('lease-unsure', UNSURE);
    await settled();
    expect(logged()).toHaveLength(1);
    expect(logged()[0]).toContain('while its store is DEGRADED (log lines: connect ECONNREFUSED)');
    lease.emit('lease-renewed');
    await settled();
    expect(fence.fenced).toBe(true);
    expect(calls).toEqual(['pause']);
    setStore(OK);
    await settled();
    expect(calls).toEqual(['pause', 'resume']);
    expect(logged()).toHaveLength(2);
    await fence.close();
  });

  it('is fenced at start when the store is DEGRADED already', async () => {
    const { calls, fence } = setup(DEGRADED);
    fence.start();
    await settled();
    expect(calls).toEqual(['pause']);
    expect(fence.fenced).toBe(true);
    await fence.close();
  });

  it("never lifts the engine guard's hold, nor shutdown's", async () => {
    const { calls, holds, lease, fence } = setup();
    fence.start();
    await holds.pause('engine');
    lease.emit('lease-unsure', UNSURE);
    await settled();
    // The engine answers again while the node is fenced: it still takes nothing.
    await holds.resume('engine');
    expect(calls).toEqual(['pause']);
    await holds.pause('shutdown');
    lease.emit('lease-renewed');
    await settled();
    expect(calls).toEqual(['pause']);
    expect(holds.reasons).toEqual(['shutdown']);
    await fence.close();
  });

  it('tries a resume that failed again, logging the failure once', async () => {
    const { calls, share, holds, lease, fence, logged } = setup();
    fence.start();
    lease.emit('lease-unsure', UNSURE);
    await settled();
    share.failures = 2;
    lease.emit('lease-renewed');
    await until('the third resume', 5_000, () => Promise.resolve(calls.length === 4 ? true : undefined));
    await settled();
    expect(holds.paused).toBe(false);
    expect(calls).toEqual(['pause', 'resume', 'resume', 'resume']);
    expect(logged().filter((line) => line.includes('could not resume'))).toHaveLength(1);
    await fence.close();
  });

  it('follows nothing once closed, and keeps its hold (shutdown pauses the share anyway)', async () => {
    const { calls, holds, lease, setStore, fence } = setup();
    fence.start();
    lease.emit('lease-unsure', UNSURE);
    await settled();
    await fence.close();
    lease.emit('lease-renewed');
    setStore(OK);
    await settled();
    expect(calls).toEqual(['pause']);
    expect(holds.paused).toBe(true);
    expect(lease.listenerCount('lease-unsure') + lease.listenerCount('lease-renewed')).toBe(0);
  });
});
