/**
 * What every resolver receives: the domain services it adapts and the owner of live subscription
 * streams. The server builds one context per operation; nothing here is module-level state.
 */
import type { MonitorService } from '../monitor/monitor-service.js';
import type { ExecutionQueue } from '../queue/execution-queue.js';
import type { RunService } from '../runs/run-service.js';
import type { StreamRegistry } from '../resolvers/stream-registry.js';
import type { Caller } from '../server/auth.js';

/** The domain services the API adapts. */
export interface BosunServices {
  readonly runs: RunService;
  readonly queue: ExecutionQueue;
  readonly monitor: MonitorService;
}

/** The GraphQL context value (yoga adds its own request fields next to these). */
export interface BosunContext {
  readonly services: BosunServices;
  /** Tracks every open subscription stream so that the server can end them on close. */
  readonly streams: StreamRegistry;
  /** Who runs the operation; the server sets it for every operation. */
  readonly caller?: Caller;
  /**
   * Spends one start (startAgent, retryAgent) of the caller's allowance, naming the operation.
   * @throws BosunError RATE_LIMITED past START_RATE_PER_MINUTE.
   */
  readonly admitStart?: (operation: string) => void;
}
