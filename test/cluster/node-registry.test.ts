/**
 * The parts of the node registry that need no database: the container counts a heartbeat
 * carries, and the lease the registry accepts. The roll itself is tested on PostgreSQL
 * (node-registry.cluster.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { containerSummary, NodeRegistry, type NodeStore } from '../../src/cluster/node-registry.js';
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
