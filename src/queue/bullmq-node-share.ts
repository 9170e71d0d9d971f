/**
 * One node's share of the cluster's line (issue 17): whether this node takes runs, and how many at
 * once. Its worker's pause and cap, never the line's: pausing the line or moving its limit would
 * stop or move every node. What a node's engine guard and shutdown pause, and what its autoscaler
 * moves, its advice being about this node's own containers (every node moving the cluster's limit
 * would have them fight over it).
 */
import { InvalidValueError } from '../errors.js';
import { describeIntegerRange, isIntegerInRange } from '../shared/validate.js';
import type { NodeWorker } from './bullmq-node-worker.js';
import { MAX_CONCURRENCY_RANGE } from './bullmq-queue-options.js';

export class NodeShare {
  /**
   * @param worker this node's worker.
   * @param ceiling its cap as opened (NODE_MAX_CONCURRENT_AGENTS; 0 = none of its own), which
   *   {@link setMaxConcurrency} never exceeds.
   */
  constructor(
    private readonly worker: Pick<NodeWorker, 'pause' | 'resume' | 'concurrency' | 'setConcurrency'>,
    private readonly ceiling: number,
  ) {}

  /** Stops THIS node taking runs; the cluster's line and the other nodes go on. */
  async pause(): Promise<void> {
    await this.worker.pause();
  }

  /** Lets this node take runs again after {@link pause}. */
  async resume(): Promise<void> {
    await this.worker.resume();
  }

  /** This node's own cap now (0 = none of its own); the cluster's limit (`stats()`) holds as well. */
  maxConcurrency(): number {
    return this.worker.concurrency;
  }

  /**
   * Moves this node's own cap, never above the one it was opened with, leaving the cluster's
   * limit alone.
   * @throws InvalidValueError (as a rejection) for a value that is not an integer from 1 to the cap
   *   it was opened with (from 0, unlimited, when it was opened without a cap of its own).
   */
  setMaxConcurrency(value: number): Promise<void> {
    const range = this.ceiling === 0 ? MAX_CONCURRENCY_RANGE : { min: 1, max: this.ceiling };
    if (!isIntegerInRange(value, range)) return Promise.reject(new InvalidValueError(describeIntegerRange(range), value));
    this.worker.setConcurrency(value);
    return Promise.resolve();
  }
}
