/**
 * The three fake services wired together, shaped like the server's `services` option.
 */
import type { BosunServices } from '../../src/api/context.js';
import { FakeExecutionQueue } from './fake-execution-queue.js';
import { FakeMonitorService } from './fake-monitor-service.js';
import { FakeRunService } from './fake-run-service.js';

/** The warm pool when it is off. */
export const NO_WARM_POOL = Object.freeze({ status: () => [] });

/** A store that writes: what the fakes report as its health. */
export const STORE_OK = Object.freeze({ status: 'OK' as const, error: null, since: null });

export interface FakeServices extends BosunServices {
  readonly runs: FakeRunService;
  readonly queue: FakeExecutionQueue;
  readonly monitor: FakeMonitorService;
}

export function createFakeServices(options: { maxConcurrency?: number } = {}): FakeServices {
  const queue = new FakeExecutionQueue(options);
  return { queue, runs: new FakeRunService(queue), monitor: new FakeMonitorService(), store: { report: () => STORE_OK }, warmPool: NO_WARM_POOL };
}

/** Listeners on every fake emitter together. */
export function listenerTotal(services: FakeServices): number {
  return services.runs.listenerTotal() + services.queue.listenerTotal() + services.monitor.listenerTotal();
}
