/** The options of {@link BullMqExecutionQueue}, and their check. */
import { InvalidValueError, describeValue } from '../errors.js';
import { MAX_TIMER_DELAY_MS } from '../shared/constants.js';
import { checkInteger, type IntegerRange } from '../shared/validate.js';
import type { QueueTaskHandler } from './execution-queue.js';

export const MAX_CONCURRENCY_RANGE: IntegerRange = { min: 0, note: '0 = unlimited' };

export interface BullMqExecutionQueueOptions {
  /** `redis://[user:password@]host:port[/db]`. */
  readonly redisUrl: string;
  /** The BullMQ queue's name; every node of a cluster uses the same. Default `runs`. */
  readonly queueName?: string;
  /** The Redis key prefix. Default `bosun`. */
  readonly prefix?: string;
  /** This node's name, recorded for each job it runs. */
  readonly nodeName: string;
  /** Runs this node may execute at once; 0 = no cap of its own (the cluster's limit still holds). */
  readonly nodeMaxConcurrency: number;
  /** The cluster's limit, 0 = unlimited. Applied only when no node has set one yet (a running cluster keeps its own). */
  readonly maxConcurrency: number;
  /** Runs that may wait at once in the whole cluster. */
  readonly maxQueueLength: number;
  readonly queueTimeoutMs: number;
  /** How long a node may stay silent before its runs are reported `lost`. */
  readonly leaseMs: number;
  readonly runTask: QueueTaskHandler;
  /**
   * The ids of the runs the database has RUNNING, on any node: after Redis lost its data, the first
   * node to find it holds a slot for each until its node takes it over (see bullmq-reset-scripts.ts).
   * Absent, only each node's own running runs are put back, as each node finds the loss.
   */
  readonly runningRuns?: () => Promise<readonly string[]>;
  /** Faults that are handled (a lost connection, a failed lock renewal), for the log. */
  readonly onError?: (error: Error) => void;
  readonly now?: () => number;
}

/** @throws TypeError "Expected …, got …" for a missing or invalid option. */
export function checkOptions(options: BullMqExecutionQueueOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected an options object, got ${describeValue(options)}`);
  const check = (name: string, value: unknown, range: IntegerRange): void => {
    try {
      checkInteger(name, value, range);
    } catch (error) {
      throw error instanceof InvalidValueError ? new TypeError(error.message, { cause: error }) : error;
    }
  };
  check('maxConcurrency', options.maxConcurrency, MAX_CONCURRENCY_RANGE);
  check('nodeMaxConcurrency', options.nodeMaxConcurrency, MAX_CONCURRENCY_RANGE);
  check('maxQueueLength', options.maxQueueLength, { min: 1 });
  check('queueTimeoutMs', options.queueTimeoutMs, { min: 1, max: MAX_TIMER_DELAY_MS });
  check('leaseMs', options.leaseMs, { min: 2 });
  if (typeof options.runTask !== 'function') throw new TypeError(`Expected runTask to be a function, got ${describeValue(options.runTask)}`);
  if (typeof options.nodeName !== 'string' || options.nodeName === '') {
    throw new TypeError(`Expected nodeName to be a non-empty string, got ${describeValue(options.nodeName)}`);
  }
}

/**
 * A run id becomes the BullMQ job id, which BullMQ refuses when it reads as an integer or holds a
 * colon (its key separator); bosun's ids are UUIDs.
 * @throws TypeError for any other id.
 */
export function checkRunId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id === '' || String(Number.parseInt(id, 10)) === id || id.includes(':')) {
    throw new TypeError(`Expected id to be a non-empty string that is not an integer and has no colon, got ${describeValue(id)}`);
  }
}
