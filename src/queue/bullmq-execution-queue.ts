/**
 * The cluster {@link ExecutionQueue}: one BullMQ queue in Redis is the one FIFO line of every
 * node (issue #17). Each node runs a BullMQ Worker with its own cap (`nodeMaxConcurrency`) under the
 * queue's global concurrency (`maxConcurrency`, cluster-wide); the worker calls the node's
 * `runTask(id, signal)`.
 *
 * How it stays exact without a protocol of our own:
 * - Every change of the line is written by an atomic script (BullMQ's or ours, see bullmq-scripts.ts)
 *   that also appends an event to the queue's events stream. Every node reads that stream in order
 *   and applies it to its {@link ClusterLine} mirror, which emits the same events as the in-process
 *   queue. So `position`, `waitingIds` and `stats` stay synchronous, answered from the mirror, exact
 *   once the events have arrived; `enqueue`, `cancel`, `pause`, `resume` and `setMaxConcurrency`
 *   resolve once this node's mirror shows their effect.
 * - `enqueue` reserves a place with a script that counts the cluster's line (QUEUE_FULL never
 *   overshoots), then adds the job (jobId = run id, data `{ queuedAt }`), then reads its position with
 *   LPOS on the wait list.
 * - A waiting run times out on every node's timer; the script that takes it out succeeds on one node
 *   only, so it leaves once. Its `left` event says on every node whether this node took it out
 *   (`byThisNode`): that node alone records the run's end.
 * - A dead node's jobs lose their lock; the other workers' stalled check finds them within the lease
 *   ({@link NodeWorker}) and BullMQ fails them instead of running them again. Every node then emits
 *   `lost` on `clusterEvents` with the node recorded for the job; exactly one has `claimed: true`.
 * - When Redis is away, `enqueue` rejects with UNAVAILABLE at once (the command connection has no
 *   offline queue); the connections reconnect by themselves and running tasks go on. If Redis comes
 *   back without its data (a new epoch), the runs still running are counted again first (their slots
 *   held, then taken over by their nodes: bullmq-reset-scripts.ts), each mirror reloads from Redis,
 *   and the service puts back the QUEUED runs with {@link BullMqExecutionQueue.restoreWaiting}.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import { FlowProducer, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { BosunError, InvalidValueError, describeValue, errorMessage } from '../errors.js';
import { MAX_CONCURRENCY_RANGE, checkOptions, checkRunId, type BullMqExecutionQueueOptions } from './bullmq-queue-options.js';
import { describeIntegerRange, isIntegerInRange } from '../shared/validate.js';
import type { ExecutionQueue, EnqueueOptions, ExecutionQueueEvents, QueueStats, QueueTicket } from './execution-queue.js';
import { ClusterLine } from './cluster-line.js';
import { NodeWorker } from './bullmq-node-worker.js';
import { NodeShare } from './bullmq-node-share.js';
import { restoreWaiting } from './bullmq-restore.js';
import { QueueScripts, queueKeys } from './bullmq-scripts.js';
import { ResetScripts } from './bullmq-reset-scripts.js';
import { QueueStreamFollower } from './queue-stream-follower.js';
import { ClusterFaults, type ClusterQueueEvents } from './bullmq-cluster-faults.js';

export type { ClusterQueueEvents } from './bullmq-cluster-faults.js';

/** How long a reservation holds a place in line between the admission and the add. */
const RESERVATION_MS = 10_000;
/** An operation waits this long at most for its own event to come back through the stream. */
const ECHO_TIMEOUT_MS = 5_000;
/** How often a queue timeout that could not be written (Redis away) is tried again. */
const TIMEOUT_RETRY_MS = 1_000;

export type { BullMqExecutionQueueOptions } from './bullmq-queue-options.js';

export class BullMqExecutionQueue implements ExecutionQueue {
  readonly events = new EventEmitter<ExecutionQueueEvents>();
  readonly clusterEvents = new EventEmitter<ClusterQueueEvents>();

  readonly #options: BullMqExecutionQueueOptions;
  readonly #now: () => number;
  readonly #line: ClusterLine;
  readonly #follower: QueueStreamFollower;
  /** Commands and the Queue: no offline queue, so a call fails at once while Redis is away. */
  readonly #command: Redis;
  readonly #reader: Redis;
  readonly #scripts: QueueScripts;
  readonly #queue: Queue;
  /** For restoreWaiting's atomic bulk add. */
  readonly #flows: FlowProducer;
  readonly #worker: NodeWorker;
  /**
   * THIS node's share of the line: its pause and its own cap, leaving the line and the other nodes
   * alone (unlike {@link pause} and {@link setMaxConcurrency}, cluster-wide). What a node's engine
   * guard, its shutdown and its autoscaler move.
   */
  readonly node: NodeShare;
  /** A dead node's runs (`lost`) and a Redis back without its data (`reset`). */
  readonly #faults: ClusterFaults;
  readonly #closing = new AbortController();
  #closed: Promise<void> | undefined;

  private constructor(options: BullMqExecutionQueueOptions) {
    this.events.setMaxListeners(0);
    this.clusterEvents.setMaxListeners(0);
    setMaxListeners(0, this.#closing.signal);
    this.#options = options;
    this.#now = options.now ?? (() => Date.now());
    const prefix = options.prefix ?? 'bosun';
    const keys = queueKeys(prefix, options.queueName ?? 'runs');
    this.#line = new ClusterLine(
      {
        events: this.events,
        now: this.#now,
        queueTimeoutMs: options.queueTimeoutMs,
        onDue: (id) => void this.#timeOut(id),
      },
      options.maxConcurrency,
    );
    const onError = (error: Error): void => options.onError?.(error);
    this.#command = new Redis(options.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
    this.#reader = new Redis(options.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    for (const connection of [this.#command, this.#reader]) connection.on('error', onError);
    this.#scripts = new QueueScripts(this.#command, keys, options.nodeName);
    const readerScripts = new QueueScripts(this.#reader, keys, options.nodeName);
    this.#worker = new NodeWorker({
      ...options,
      queueName: options.queueName ?? 'runs',
      prefix,
      scripts: this.#scripts,
      onOrphanSettled: (id, error) => {
        this.#line.finished(id, error);
        this.#follower.recheck();
      },
      onError: (error) => this.#report(error),
    });
    this.node = new NodeShare(this.#worker, options.nodeMaxConcurrency);
    this.#faults = new ClusterFaults({
      line: this.#line,
      worker: this.#worker,
      clusterEvents: this.clusterEvents,
      pauseQueue: () => this.#queue.pause(),
      // On the reader's connection, as the rest of the data loss's handling: it waits for Redis.
      reset: new ResetScripts(this.#reader, keys),
      ...(options.runningRuns === undefined ? {} : { runningRuns: options.runningRuns }),
      holdMs: options.leaseMs,
      now: this.#now,
      report: (error) => this.#report(error),
    });
    this.#follower = new QueueStreamFollower(this.#reader, readerScripts, keys, this.#line, {
      onStalled: (id) => this.#faults.lost(id, readerScripts),
      failure: (id, reason) => this.#worker.failure(id, reason),
      onSettled: (id) => this.#worker.forget(id),
      onDataLost: () => this.#faults.dataLost(readerScripts),
      onReloaded: () => this.#faults.emit('reset'),
      localTasks: () => this.#worker.localIds(),
      nodeName: options.nodeName,
      onError: (error) => this.#report(error),
    });
    this.#queue = new Queue(options.queueName ?? 'runs', { connection: this.#command, prefix });
    this.#queue.on('error', onError);
    this.#flows = new FlowProducer({ connection: this.#command, prefix });
    this.#flows.on('error', onError);
  }

  /**
   * Connects, joins the cluster's line (its limit, its waiting and running runs) and starts this node's
   * worker. Rejects when Redis cannot be reached.
   * @throws TypeError for an invalid option.
   */
  static async open(options: BullMqExecutionQueueOptions): Promise<BullMqExecutionQueue> {
    checkOptions(options);
    const queue = new BullMqExecutionQueue(options);
    try {
      await queue.#start();
    } catch (error) {
      await queue.close();
      throw new BosunError('UNAVAILABLE', `Cannot reach Redis for the cluster queue: ${errorMessage(error)}`, { cause: error });
    }
    return queue;
  }

  async #start(): Promise<void> {
    // The Queue connects the command connection itself.
    await Promise.all([this.#queue.waitUntilReady(), this.#reader.connect()]);
    await this.#scripts.setLimit(this.#options.maxConcurrency, true);
    await this.#faults.settle();
    await this.#follower.start();
    await this.#worker.start();
  }

  /**
   * Throws what {@link enqueue} would most likely throw now, from this node's mirror: SHUTTING_DOWN
   * after close, UNAVAILABLE while Redis is away, QUEUE_FULL when the cluster's line is full. The
   * exact check is enqueue's.
   */
  assertAdmits(): void {
    if (this.#closing.signal.aborted) throw new BosunError('SHUTTING_DOWN', 'Cannot queue a run: the execution queue is closed');
    if (this.#command.status !== 'ready') throw this.#unavailable();
    if (this.#line.length >= this.#options.maxQueueLength) throw this.#full(this.#line.length);
  }

  /**
   * Puts a run at the back of the cluster's line. Resolves with its position right after it entered
   * (0 when a worker took it already), once this node's mirror has it.
   * @throws TypeError for an empty id or an invalid date; BosunError INVALID_STATE for an id already
   *   waiting or running, QUEUE_FULL, UNAVAILABLE while Redis is away, SHUTTING_DOWN after close.
   */
  async enqueue(id: string, options: EnqueueOptions = {}): Promise<QueueTicket> {
    checkRunId(id);
    const { queuedAt: given } = options;
    if (given !== undefined && !(given instanceof Date && Number.isFinite(given.getTime()))) {
      throw new TypeError(`Expected queuedAt to be a valid Date, got ${describeValue(given)}`);
    }
    if (this.#closing.signal.aborted) throw new BosunError('SHUTTING_DOWN', 'Cannot queue a run: the execution queue is closed');
    if (this.#command.status !== 'ready') throw this.#unavailable();
    const now = this.#now();
    const queuedAt = Math.min(given?.getTime() ?? now, now);
    const expired = queuedAt + this.#options.queueTimeoutMs <= now;
    try {
      const admission = await this.#scripts.admit(id, { queuedAt, now, reserveMs: RESERVATION_MS }, this.#options.maxQueueLength, {
        front: false,
        expired,
      });
      if (!admission.admitted) {
        if (admission.reason === 'duplicate') throw new BosunError('INVALID_STATE', `Run ${id} is already in the queue`);
        if (admission.reason === 'full') throw this.#full(admission.waiting);
        if (admission.reason === 'unsettled') throw this.#unsettled();
        // Already past its deadline: every node shows it entering at the back and timing out.
        await this.#follower.caughtUp(admission.eventId, ECHO_TIMEOUT_MS);
        const stats = this.#line.stats();
        return { position: admission.waiting + 1, running: stats.running, queued: admission.waiting + 1, maxConcurrency: stats.maxConcurrency };
      }
      try {
        await this.#queue.add('run', { queuedAt }, { jobId: id, timestamp: queuedAt, removeOnComplete: true, removeOnFail: true });
      } catch (error) {
        await this.#scripts.abandon(id).catch(() => undefined);
        throw error;
      }
      const { eventId, ...ticket } = await this.#scripts.ticket(id);
      // The run's own events (enqueued, maybe started) are out on this node before it resolves.
      await this.#follower.caughtUp(eventId, ECHO_TIMEOUT_MS);
      return { ...ticket, maxConcurrency: this.#line.maxConcurrency };
    } catch (error) {
      throw error instanceof BosunError ? error : this.#unavailable(error);
    }
  }

  /**
   * Puts back runs that Redis lost (it restarted without its data), in their given order and ahead of
   * any run queued since: PostgreSQL is the truth. Runs Redis still has are left as they are.
   * Returns how many were put back.
   */
  async restoreWaiting(runs: ReadonlyArray<{ readonly id: string; readonly queuedAt: Date }>): Promise<number> {
    for (const run of runs) checkRunId(run.id);
    if (this.#closing.signal.aborted) throw new BosunError('SHUTTING_DOWN', 'Cannot restore runs: the execution queue is closed');
    try {
      return await restoreWaiting(
        {
          scripts: this.#scripts,
          flows: this.#flows,
          follower: this.#follower,
          queueName: this.#queue.name,
          queueTimeoutMs: this.#options.queueTimeoutMs,
          now: this.#now,
          echoTimeoutMs: ECHO_TIMEOUT_MS,
        },
        runs,
      );
    } catch (error) {
      throw error instanceof BosunError ? error : this.#unavailable(error);
    }
  }

  /** Takes a waiting run out of the cluster's line (event `left`, reason `cancelled`, on every node). False when it is not waiting. */
  async cancel(id: string): Promise<boolean> {
    let left: { eventId: string } | undefined;
    try {
      left = await this.#scripts.leave(id, 'cancelled');
    } catch (error) {
      throw this.#unavailable(error);
    }
    if (left === undefined) return false;
    await this.#follower.caughtUp(left.eventId, ECHO_TIMEOUT_MS);
    return true;
  }

  position(id: string): number {
    return this.#line.position(id);
  }

  waitingIds(): readonly string[] {
    return this.#line.ids();
  }

  /** Whether the run runs on any node of the cluster. */
  isRunning(id: string): boolean {
    return this.#line.isRunning(id);
  }

  /** The node that runs `id`, once recorded. */
  nodeOf(id: string): string | undefined {
    return this.#line.nodeOf(id);
  }

  /** The cluster's counts, from this node's mirror. */
  stats(): QueueStats {
    const stats = this.#line.stats();
    // As the in-process queue: a closed queue reports paused (it starts nothing).
    return this.#closing.signal.aborted ? { ...stats, paused: true } : stats;
  }

  /** Changes the cluster's limit (0 = unlimited) on every node; resolves once this node's mirror has it. */
  async setMaxConcurrency(value: number): Promise<void> {
    if (!isIntegerInRange(value, MAX_CONCURRENCY_RANGE)) throw new InvalidValueError(describeIntegerRange(MAX_CONCURRENCY_RANGE), value);
    let written: { eventId: string };
    try {
      written = await this.#scripts.setLimit(value, false);
    } catch (error) {
      throw this.#unavailable(error);
    }
    await this.#follower.caughtUp(written.eventId, ECHO_TIMEOUT_MS);
  }

  /** Stops every node from starting runs; waiting runs keep their place and their clock. */
  async pause(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    try {
      await this.#queue.pause();
    } catch (error) {
      throw this.#unavailable(error);
    }
    await this.#follower.settled(() => this.#line.paused, ECHO_TIMEOUT_MS);
  }

  async resume(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    try {
      await this.#queue.resume();
    } catch (error) {
      throw this.#unavailable(error);
    }
    await this.#follower.settled(() => !this.#line.paused, ECHO_TIMEOUT_MS);
  }

  /** Resolves when nothing runs and nothing waits anywhere in the cluster (as this node's mirror sees it). */
  async onIdle(): Promise<void> {
    await this.#follower.settled(() => this.#line.runningCount === 0 && this.#line.length === 0, Number.POSITIVE_INFINITY);
  }

  /**
   * Leaves the cluster: starts nothing more, aborts this node's running tasks' signals with a
   * SHUTTING_DOWN BosunError and waits for them to settle, then closes every connection. Waiting runs
   * stay in the cluster's line for the other nodes (no `left`). Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing.abort(new BosunError('SHUTTING_DOWN', 'The execution queue is closing'));
    await this.#worker.close();
    await this.#follower.stop();
    await this.#queue.close().catch(() => undefined);
    await this.#flows.close().catch(() => undefined);
    if (this.#command.status === 'ready') await this.#command.quit().catch(() => this.#command.disconnect());
    else this.#command.disconnect();
    this.#line.clear();
  }

  /** A waiting run's deadline passed here: every node tries, one takes it out. */
  async #timeOut(id: string): Promise<void> {
    if (this.#closing.signal.aborted || !this.#line.isWaiting(id)) return;
    try {
      await this.#scripts.leave(id, 'timed-out');
    } catch (error) {
      // Redis is away: the run is still due, so try again (its timer has fired).
      this.#report(error);
      setTimeout(() => void this.#timeOut(id), TIMEOUT_RETRY_MS).unref();
    }
  }

  #report(error: unknown): void {
    this.#options.onError?.(error instanceof Error ? error : new Error(String(error)));
  }

  #full(waiting: number): BosunError {
    return new BosunError('QUEUE_FULL', `The queue is full: ${waiting} runs are waiting and at most ${this.#options.maxQueueLength} may wait`);
  }

  /** Redis came back without its data, and no node has held the slots of the runs still running yet. */
  #unsettled(): BosunError {
    // This node may not have noticed the loss (nothing reconnected: the data was flushed): it looks now.
    this.#follower.resyncSoon();
    return new BosunError(
      'UNAVAILABLE',
      'The cluster queue lost its data and is putting back the runs still running; bosun does it by itself, try again shortly',
    );
  }

  #unavailable(cause?: unknown): BosunError {
    const detail = cause === undefined ? `the connection is ${this.#command.status}` : errorMessage(cause);
    return new BosunError('UNAVAILABLE', `The cluster queue cannot be reached (Redis: ${detail}); bosun reconnects by itself, try again shortly`, {
      cause,
    });
  }
}
