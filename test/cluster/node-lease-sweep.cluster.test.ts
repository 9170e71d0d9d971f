/**
 * The lease sweep on a real PostgreSQL: two live nodes sweeping, one dead node handled once by
 * one of them, a node that left not handled at all, a failing handler tried again, and a close
 * that aborts a handler in flight.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeLeaseSweep } from '../../src/cluster/node-lease-sweep.js';
import { NodeRegistry, type NodeHealth } from '../../src/cluster/node-registry.js';
import { PgNodeRegistry } from '../../src/store/postgres/pg-node-registry.js';
import { until } from '../helpers/e2e.js';
import { createTestLogger, type TestLogger } from '../helpers/test-logger.js';
import { usePgTestDatabase } from '../store/postgres/pg-test-database.js';

const pg = usePgTestDatabase();

const LEASE_MS = 1_500;
const WAIT_MS = 15_000;

const registries: NodeRegistry[] = [];
const sweeps: NodeLeaseSweep[] = [];

async function joined(name: string): Promise<NodeRegistry> {
  const registry = new NodeRegistry({
    store: new PgNodeRegistry(await pg.openAnother({ connectionTimeoutMs: 1_000 })),
    leaseMs: LEASE_MS,
    figures: () => ({ running: 1, containers: { total: 1, healthy: 1, warning: 0, critical: 0 }, recommendedConcurrency: 2 }),
    logger: createTestLogger(),
  });
  registries.push(registry);
  await registry.join({ name, instanceId: `instance-${name}`, url: null, capacity: 1, engineVersion: null });
  return registry;
}

function sweeping(
  registry: NodeRegistry,
  onExpired: (node: NodeHealth, signal: AbortSignal) => Promise<void>,
  logger: TestLogger = createTestLogger(),
) {
  const sweep = new NodeLeaseSweep({ registry, onExpired, logger });
  sweeps.push(sweep);
  sweep.start();
  return sweep;
}

beforeEach(async () => {
  await pg.db.query('DELETE FROM nodes');
});

afterEach(async () => {
  await Promise.all(sweeps.splice(0).map((sweep) => sweep.close()));
  await Promise.all(registries.splice(0).map((registry) => registry.close()));
});

describe('NodeLeaseSweep', () => {
  it('hands a dead node to one sweeping node, once, and leaves a node that left alone', async () => {
    const a = await joined('a');
    const b = await joined('b');
    const dead = await joined('dead');
    const left = await joined('left');
    const handled: string[] = [];
    const attempts: string[] = [];
    const logger = createTestLogger();
    const handle = (by: string) => (node: NodeHealth) => {
      attempts.push(by);
      // The first attempt fails (a store away for a moment): the death stays to be handled.
      if (attempts.length === 1) return Promise.reject(new Error('runs could not be written'));
      handled.push(`${by}:${node.name}`);
      return Promise.resolve();
    };
    sweeping(a, handle('a'), logger);
    sweeping(b, handle('b'), logger);
    await left.leave();
    await dead.close();
    await until('the dead node handled', WAIT_MS, () => Promise.resolve(handled.length > 0 ? true : undefined));
    expect(logger.entries.filter((entry) => entry.msg?.startsWith('lease sweep: a pass failed'))).toHaveLength(1);
    // Several more passes of both sweeps: nobody handles it again, nor the node that left.
    const passes = await Promise.all([...sweeps.map((sweep) => sweep.sweep()), ...sweeps.map((sweep) => sweep.sweep())]);
    expect(passes.flat()).toEqual([]);
    expect(handled).toHaveLength(1);
    expect(handled[0]).toMatch(/^[ab]:dead$/);
  });

  it('aborts a handler in flight when it closes, and the death stays unhandled for the others', async () => {
    const a = await joined('a');
    const dead = await joined('dead');
    let seen: AbortSignal | undefined;
    const sweep = sweeping(a, (_node, signal) => {
      seen = signal;
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
    });
    await dead.close();
    await until('the handler running', WAIT_MS, () => Promise.resolve(seen));
    await sweep.close();
    expect(seen!.aborted).toBe(true);
    expect((await a.expiredNodes()).map((node) => node.name)).toEqual(['dead']);
  });
});
