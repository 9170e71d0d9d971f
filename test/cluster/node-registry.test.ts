/**
 * The parts of the node registry that need no database: the container counts a heartbeat
 * carries, the lease the registry accepts, and when it is unsure of its own lease (timers faked,
 * the store a stand-in whose heartbeats succeed or fail as the test says). The roll itself is tested on PostgreSQL
 * (node-registry.cluster.test.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { containerSummary, NodeRegistry, type NodeJoin, type NodeStore } from '../../src/cluster/node-registry.js';
import { createTestLogger } from '../helpers/test-logger.js';

describe('containerSummary', () => {
  it("counts a node's containers by level, from its monitor's overall figures", () => {
    expect(containerSummary({ totalContainers: 5, healthyContainers: 2, warningContainers: 1, criticalContainers: 2 })).toEqual({
      total: 5,
      healthy: 2,
      warning: 1,
      critical: 2,
    });
  });
});

describe('NodeRegistry', () => {
  const store = {} as NodeStore;
  const options = {
    store,
    figures: () => ({ running: 0, containers: { total: 0, healthy: 0, warning: 0, critical: 0 }, recommendedConcurrency: null }),
    logger: createTestLogger(),
  };

  it('beats every third of the lease', () => {
    expect(new NodeRegistry({ ...options, leaseMs: 30_000 }).heartbeatIntervalMs).toBe(10_000);
  });

  it('refuses a lease too short to beat within', () => {
    expect(() => new NodeRegistry({ ...options, leaseMs: 2 })).toThrow('Expected leaseMs to be an integer of at least 3, got 2');
    expect(() => new NodeRegistry({ ...options, leaseMs: 1.5 })).toThrow(TypeError);
  });

  it('judges nobody and claims nothing before it joined', async () => {
    const registry = new NodeRegistry({ ...options, leaseMs: 30_000 });
    expect(await registry.expiredNodes()).toEqual([]);
    await expect(registry.claimExpired('b', () => Promise.resolve())).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });
});

describe('NodeRegistry: its own lease in doubt', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A roll whose heartbeats fail while `away` is set. */
  function roll() {
    const state = {
      away: false,
      beats: 0,
      store: {
        join: () => Promise.resolve<NodeJoin>({ self: { name: 'a', incarnation: 1 }, previous: null, previousUnhandled: false }),
        beat: () => {
          state.beats += 1;
          return state.away ? Promise.reject(new Error('connect ECONNREFUSED')) : Promise.resolve(true);
        },
        leave: () => Promise.resolve(),
      } as unknown as NodeStore,
    };
    return state;
  }

  const info = { name: 'a', instanceId: 'instance-a', url: null, capacity: 0, engineVersion: null };
  const options = {
    figures: () => ({ running: 0, containers: { total: 0, healthy: 0, warning: 0, critical: 0 }, recommendedConcurrency: null }),
    logger: createTestLogger(),
  };

  it('is unsure once two thirds of the lease pass without a renewal, retries failed heartbeats every tenth of it, and says so once one renews it', async () => {
    vi.useFakeTimers();
    const store = roll();
    const registry = new NodeRegistry({ ...options, store: store.store, leaseMs: 3_000 });
    const events: string[] = [];
    registry.events.on('lease-unsure', ({ doubtMs }) => events.push(`unsure after ${doubtMs} ms`));
    registry.events.on('lease-renewed', () => events.push('renewed'));
    await registry.join(info);
    expect(registry.leaseDoubtMs).toBe(2_000);
    // Heartbeats every second renew it: never in doubt.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(store.beats).toBe(10);
    expect(events).toEqual([]);

    store.away = true;
    // The last renewal was at 10 s: one heartbeat fails at 11 s, doubt at 12 s, once.
    await vi.advanceTimersByTimeAsync(1_999);
    expect(events).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(events).toEqual(['unsure after 2000 ms']);
    expect(registry.leaseUnsure).toBe(true);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(events).toEqual(['unsure after 2000 ms']);
    // Failed at 11 s, then tried every tenth of the lease: a store back late in the lease is seen at once.
    expect(store.beats).toBe(10 + 1 + 20);

    store.away = false;
    await vi.advanceTimersByTimeAsync(300);
    expect(events).toEqual(['unsure after 2000 ms', 'renewed']);
    expect(registry.leaseUnsure).toBe(false);
    await registry.close();
    // Closed: no doubt is left to fire.
    store.away = true;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(events).toEqual(['unsure after 2000 ms', 'renewed']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('counts a heartbeat that hangs as no renewal', async () => {
    vi.useFakeTimers();
    const store = roll();
    const registry = new NodeRegistry({ ...options, store: store.store, leaseMs: 3_000 });
    const events: string[] = [];
    registry.events.on('lease-unsure', () => events.push('unsure'));
    await registry.join(info);
    let answer!: (ours: boolean) => void;
    (store.store as { beat: NodeStore['beat'] }).beat = () => new Promise((resolve) => (answer = resolve));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(events).toEqual(['unsure']);
    answer(true);
    await registry.close();
  });
});
