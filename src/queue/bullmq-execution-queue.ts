/**
 * The cluster {@link AsyncExecutionQueue}: one BullMQ queue in Redis is the one FIFO line of every
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
 *   only, so it leaves once.
 * - A dead node's jobs lose their lock (`lockDurationMs`, half the lease, renewed every quarter); the
 *   other workers' stalled check (every half lease) finds them within the lease, and with
 *   `maxStalledCount` 0 BullMQ fails them instead of running them again. Every node then emits
 *   `lost` on `clusterEvents` with the node recorded for the job; exactly one has `claimed: true`.
 * - When Redis is away, `enqueue` rejects with UNAVAILABLE at once (the command connection has no
 *   offline queue); the connections reconnect by themselves and running tasks go on. If Redis comes
 *   back without its data (a new epoch), each mirror reloads from Redis, and the service puts back the
 *   QUEUED runs with {@link BullMqExecutionQueue.restoreWaiting}.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import { randomUUID } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { BosunError, InvalidValueError, describeValue, errorMessage } from '../errors.js';
import { MAX_TIMER_DELAY_MS } from '../shared/constants.js';
import { checkInteger, describeIntegerRange, isIntegerInRange, type IntegerRange } from '../shared/validate.js';
import type { AsyncExecutionQueue, QueueTaskHandler } from './async-execution-queue.js';
import { ClusterLine } from './cluster-line.js';
import type { EnqueueOptions, ExecutionQueueEvents, QueueStats, QueueTicket } from './execution-queue.js';
import { QueueScripts, STREAM_EVENT, queueKeys, type QueueKeySet, type Snapshot } from './bullmq-scripts.js';

/** What only a cluster has, apart from the queue's own events (the ExecutionQueue surface stays as it is). */
export interface ClusterQueueEvents {
  /**
   * A running run whose node stopped renewing its lease (it died, or stalled past the lease); its
   * `finished` follows. Emitted on every node; `claimed` is true on exactly one, which should record
   * the run as interrupted, naming the node.
   */
  lost: [event: { readonly id: string; readonly node: string; readonly claimed: boolean }];
}

export interface BullMqExecutionQueueOptions {
  /** `redis://[user:password@]host:port[/db]`. */
  readonly redisUrl: string;
  /** The BullMQ queue's name; every node of a cluster uses the same. Default `runs`. */
  readonly queueName?: string;
  /** The Redis key prefix. Default `bosun`. */
  readonly prefix?: string;
  /** This node's name, recorded for each job it runs. */
  readonly nodeName: string;
  /** Runs this node may execute at once (≥ 1). */
  readonly nodeMaxConcurrency: number;
  /** The cluster's limit, 0 = unlimited. Applied only when no node has set one yet (a running cluster keeps its own). */
  readonly maxConcurrency: number;
  /** Runs that may wait at once in the whole cluster. */
  readonly maxQueueLength: number;
  readonly queueTimeoutMs: number;
  /** How long a node may stay silent before its runs are reported `lost`. */
  readonly leaseMs: number;
  readonly runTask: QueueTaskHandler;
  /** Faults that are handled (a lost connection, a failed lock renewal), for the log. */
  readonly onError?: (error: Error) => void;
  readonly now?: () => number;
}

const MAX_CONCURRENCY_RANGE: IntegerRange = { min: 0, note: '0 = unlimited' };
/** How long a reservation holds a place in line between the admission and the add. */
const RESERVATION_MS = 10_000;
/** An operation waits this long at most for its own event to come back through the stream. */
const ECHO_TIMEOUT_MS = 5_000;
/** Events read per XREAD, and how long one read blocks. */
const READ_COUNT = 500;
const READ_BLOCK_MS = 2_000;

export class BullMqExecutionQueue implements AsyncExecutionQueue {
  readonly events = new EventEmitter<ExecutionQueueEvents>();
  readonly clusterEvents = new EventEmitter<ClusterQueueEvents>();

  readonly #options: BullMqExecutionQueueOptions;
  readonly #now: () => number;
  readonly #keys: QueueKeySet;
  readonly #line: ClusterLine;
  /** Commands and the Queue: no offline queue, so a call fails at once while Redis is away. */
  readonly #command: Redis;
  readonly #reader: Redis;
  readonly #workerConnection: Redis;
  readonly #scripts: QueueScripts;
  readonly #readerScripts: QueueScripts;
  readonly #queue: Queue;
  #worker: Worker | undefined;
  readonly #closing = new AbortController();
  #closed: Promise<void> | undefined;
  #readLoop: Promise<void> | undefined;
  #lastEventId = '0-0';
  #epoch = '';
  #resyncNeeded = false;
  /** This node's tasks: aborted one by one when the cluster reports them lost. */
  readonly #tasks = new Map<string, { readonly controller: AbortController; readonly settled: Promise<void> }>();
  /** The errors of this node's failed tasks, until the stream reports the failure. */
  readonly #taskErrors = new Map<string, unknown>();
  /** Checked after each event applied: resolve once true. */
  readonly #waiters = new Set<{ test: () => boolean; resolve: () => void }>();

  private constructor(options: BullMqExecutionQueueOptions) {
    this.events.setMaxListeners(0);
    this.clusterEvents.setMaxListeners(0);
    setMaxListeners(0, this.#closing.signal);
    this.#options = options;
    this.#now = options.now ?? (() => Date.now());
    this.#keys = queueKeys(options.prefix ?? 'bosun', options.queueName ?? 'runs');
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
    this.#workerConnection = new Redis(options.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    for (const connection of [this.#command, this.#reader, this.#workerConnection]) connection.on('error', onError);
    // Each reconnection may follow a Redis that lost its data: the reader checks the epoch first.
    this.#reader.on('ready', () => {
      this.#resyncNeeded = true;
    });
    this.#scripts = new QueueScripts(this.#command, this.#keys);
    this.#readerScripts = new QueueScripts(this.#reader, this.#keys);
    const prefix = options.prefix ?? 'bosun';
    this.#queue = new Queue(options.queueName ?? 'runs', { connection: this.#command, prefix });
    this.#queue.on('error', onError);
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
    await Promise.all([this.#queue.waitUntilReady(), this.#reader.connect(), this.#workerConnection.connect()]);
    const limit = await this.#scripts.setLimit(this.#options.maxConcurrency, true);
    const snapshot = await this.#readerScripts.snapshot(randomUUID());
    this.#epoch = snapshot.epoch;
    this.#take(snapshot);
    this.#line.setMaxConcurrency(limit);
    this.#resyncNeeded = false;
    this.#readLoop = this.#read();
    const { leaseMs } = this.#options;
    this.#worker = new Worker(this.#queue.name, (job: Job, _token?: string, signal?: AbortSignal) => this.#process(job, signal), {
      connection: this.#workerConnection,
      prefix: this.#queue.opts.prefix,
      name: this.#options.nodeName,
      concurrency: this.#options.nodeMaxConcurrency,
      // Found within the lease: a lock lapses half a lease after the node's last renewal, and the
      // next stalled check comes at most half a lease later.
      lockDuration: Math.max(1, Math.floor(leaseMs / 2)),
      stalledInterval: Math.max(1, Math.floor(leaseMs / 2)),
      maxStalledCount: 0,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 0 },
    });
    this.#worker.on('error', (error) => this.#options.onError?.(error));
    this.#worker.on('completed', (job) => void this.#forgetNode(job.id));
    this.#worker.on('failed', (job) => void this.#forgetNode(job?.id));
    await this.#worker.waitUntilReady();
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
    return this.#enqueue(id, options, false);
  }

  async #enqueue(id: string, options: EnqueueOptions, front: boolean): Promise<QueueTicket> {
    if (typeof id !== 'string' || id === '') throw new TypeError(`Expected id to be a non-empty string, got ${describeValue(id)}`);
    const { queuedAt: given } = options;
    if (given !== undefined && !(given instanceof Date && Number.isFinite(given.getTime()))) {
      throw new TypeError(`Expected queuedAt to be a valid Date, got ${describeValue(given)}`);
    }
    if (this.#closing.signal.aborted) throw new BosunError('SHUTTING_DOWN', 'Cannot queue a run: the execution queue is closed');
    if (this.#command.status !== 'ready') throw this.#unavailable();
    const now = this.#now();
    const queuedAt = Math.min(given?.getTime() ?? now, now);
    try {
      const admission = await this.#scripts.admit(id, queuedAt, now, RESERVATION_MS, this.#options.maxQueueLength, front);
      if (!admission.admitted) {
        if (admission.reason === 'duplicate') throw new BosunError('INVALID_STATE', `Run ${id} is already in the queue`);
        throw this.#full(admission.waiting);
      }
      try {
        await this.#queue.add('run', { queuedAt }, { jobId: id, timestamp: queuedAt, lifo: front, removeOnComplete: true, removeOnFail: true });
      } catch (error) {
        await this.#scripts.abandon(id).catch(() => undefined);
        throw error;
      }
      const ticket = await this.#scripts.ticket(id);
      // The run's own events (enqueued, maybe started or left) are out on this node before it resolves.
      await this.#settled(() => this.#line.isWaiting(id) || this.#line.isRunning(id) || ticket.position === 0);
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
    let restored = 0;
    // Each one goes to the front of the line, so the last goes first.
    for (const run of [...runs].reverse()) {
      try {
        await this.#enqueue(run.id, { queuedAt: run.queuedAt }, true);
        restored += 1;
      } catch (error) {
        if (!(error instanceof BosunError && error.code === 'INVALID_STATE')) throw error;
      }
    }
    return restored;
  }

  /** Takes a waiting run out of the cluster's line (event `left`, reason `cancelled`, on every node). False when it is not waiting. */
  async cancel(id: string): Promise<boolean> {
    let left: boolean;
    try {
      left = await this.#scripts.leave(id, 'cancelled');
    } catch (error) {
      throw this.#unavailable(error);
    }
    if (left) await this.#settled(() => !this.#line.isWaiting(id));
    return left;
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
    return this.#line.stats();
  }

  /** Changes the cluster's limit (0 = unlimited) on every node; resolves once this node's mirror has it. */
  async setMaxConcurrency(value: number): Promise<void> {
    if (!isIntegerInRange(value, MAX_CONCURRENCY_RANGE)) throw new InvalidValueError(describeIntegerRange(MAX_CONCURRENCY_RANGE), value);
    try {
      await this.#scripts.setLimit(value, false);
    } catch (error) {
      throw this.#unavailable(error);
    }
    await this.#settled(() => this.#line.maxConcurrency === value);
  }

  /** Stops every node from starting runs; waiting runs keep their place and their clock. */
  async pause(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    try {
      await this.#queue.pause();
    } catch (error) {
      throw this.#unavailable(error);
    }
    await this.#settled(() => this.#line.paused);
  }

  async resume(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    try {
      await this.#queue.resume();
    } catch (error) {
      throw this.#unavailable(error);
    }
    await this.#settled(() => !this.#line.paused);
  }

  /** Resolves when nothing runs and nothing waits anywhere in the cluster (as this node's mirror sees it). */
  async onIdle(): Promise<void> {
    await this.#settled(() => this.#line.runningCount === 0 && this.#line.length === 0, Number.POSITIVE_INFINITY);
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
    await Promise.all([...this.#tasks.values()].map((task) => task.settled));
    try {
      // With Redis away the worker could not record the settled jobs and would retry for ever: it
      // leaves them (the other nodes report them lost once their lease lapses).
      await this.#worker?.close(this.#workerConnection.status !== 'ready');
    } catch (error) {
      this.#report(error);
    }
    this.#reader.disconnect();
    await this.#readLoop;
    await this.#queue.close().catch(() => undefined);
    for (const connection of [this.#command, this.#workerConnection]) {
      if (connection.status === 'ready') await connection.quit().catch(() => connection.disconnect());
      else connection.disconnect();
    }
    this.#line.clear();
    for (const waiter of this.#waiters) waiter.resolve();
    this.#waiters.clear();
  }

  /** The worker's processor: runs one job of this node. */
  async #process(job: Job, jobSignal: AbortSignal | undefined): Promise<void> {
    const id = job.id;
    if (id === undefined) return;
    const controller = new AbortController();
    let settle = (): void => undefined;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    this.#tasks.set(id, { controller, settled });
    try {
      // Recorded before the task starts, so a node that dies while running it is named.
      await this.#scripts.markRunning(id, this.#options.nodeName).catch((error: unknown) => this.#report(error));
      const signals = [this.#closing.signal, controller.signal];
      if (jobSignal !== undefined) signals.push(jobSignal);
      await this.#options.runTask(id, AbortSignal.any(signals));
    } catch (error) {
      this.#taskErrors.set(id, error);
      throw error;
    } finally {
      this.#tasks.delete(id);
      settle();
    }
  }

  async #forgetNode(id: string | undefined): Promise<void> {
    if (id !== undefined) await this.#scripts.forgetNode(id).catch((error: unknown) => this.#report(error));
  }

  /** A waiting run's deadline passed here: every node tries, one takes it out. */
  async #timeOut(id: string): Promise<void> {
    if (this.#closing.signal.aborted || !this.#line.isWaiting(id)) return;
    try {
      await this.#scripts.leave(id, 'timed-out');
    } catch (error) {
      // Redis is away: the run is still due, so try again (its timer has fired).
      this.#report(error);
      setTimeout(() => void this.#timeOut(id), 1_000).unref();
    }
  }

  /** Reads the events stream until close, in order, applying each event to the mirror. */
  async #read(): Promise<void> {
    while (!this.#closing.signal.aborted) {
      try {
        if (this.#resyncNeeded) await this.#resync();
        const reply = await this.#reader.xread('COUNT', READ_COUNT, 'BLOCK', READ_BLOCK_MS, 'STREAMS', this.#keys.events, this.#lastEventId);
        if (reply === null) continue;
        for (const [, entries] of reply) {
          for (const [entryId, fields] of entries) {
            this.#lastEventId = entryId;
            await this.#apply(toRecord(fields));
            this.#checkWaiters();
          }
        }
      } catch (error) {
        if (this.#closing.signal.aborted) return;
        this.#report(error);
        // The connection reconnects by itself; a pause keeps a dead Redis from spinning this loop.
        await new Promise((resolve) => setTimeout(resolve, 200).unref());
      }
    }
  }

  /** After a reconnection: when Redis lost its data (a new epoch), reloads the mirror from it. */
  async #resync(): Promise<void> {
    const snapshot = await this.#readerScripts.snapshot(randomUUID());
    this.#resyncNeeded = false;
    if (snapshot.epoch === this.#epoch) return;
    // Redis lost its data, the limit and the pause with it: the first node back sets them again.
    const wasPaused = this.#line.paused;
    const limit = await this.#readerScripts.setLimit(this.#line.maxConcurrency, true);
    this.#epoch = snapshot.epoch;
    this.#take(snapshot);
    this.#line.setMaxConcurrency(limit);
    if (wasPaused && !snapshot.paused) await this.#queue.pause().catch((error: unknown) => this.#report(error));
    this.#checkWaiters();
  }

  #take(snapshot: Snapshot): void {
    this.#lastEventId = snapshot.lastEventId;
    this.#line.replace(snapshot.waiting, snapshot.running, new Set(this.#tasks.keys()));
    this.#line.setPaused(snapshot.paused);
  }

  async #apply(fields: Record<string, string>): Promise<void> {
    const id = fields.jobId ?? '';
    switch (fields.event) {
      case STREAM_EVENT.admitted:
        this.#line.admitted(id, Number(fields.queuedAt), fields.front === '1');
        break;
      case 'waiting':
        // A job put back by the stalled check (prev: active) is a dead node's, about to be failed.
        if (fields.prev === undefined) this.#line.added(id, this.#line.announcedQueuedAt(id) ?? (await this.#queuedAtOf(id)));
        break;
      case 'active':
        this.#line.started(id);
        break;
      case STREAM_EVENT.running:
        this.#line.runsOn(id, fields.node ?? '');
        break;
      case 'completed':
        this.#taskErrors.delete(id);
        this.#line.finished(id);
        break;
      case 'failed': {
        const error = this.#taskErrors.get(id) ?? new Error(fields.failedReason ?? 'The task failed');
        this.#taskErrors.delete(id);
        this.#line.finished(id, error);
        break;
      }
      case STREAM_EVENT.left:
        this.#line.left(id, fields.reason === 'timed-out' ? 'timed-out' : 'cancelled');
        break;
      case 'removed':
        this.#line.left(id, 'cancelled');
        break;
      case 'stalled':
        await this.#lost(id);
        break;
      case 'paused':
        this.#line.setPaused(true);
        break;
      case 'resumed':
        this.#line.setPaused(false);
        break;
      case STREAM_EVENT.limit:
        this.#line.setMaxConcurrency(Number(fields.limit));
        break;
      default:
        break;
    }
  }

  /** A running job's lock lapsed: its node stopped (or stalled past the lease). */
  async #lost(id: string): Promise<void> {
    if (!this.#line.isRunning(id)) return;
    const node = this.#line.nodeOf(id) ?? 'an unknown node';
    const claimed = await this.#readerScripts.claimLost(id).catch((error: unknown) => {
      this.#report(error);
      return false;
    });
    const error = new BosunError('INVALID_STATE', `Run ${id} was lost: node ${node} stopped renewing its lease`);
    // This node is alive but lost the lease (a long stall): the cluster counts the run as lost, so stop it.
    this.#tasks.get(id)?.controller.abort(error);
    try {
      this.clusterEvents.emit('lost', { id, node, claimed });
    } catch (listenerError) {
      process.nextTick(() => {
        throw listenerError;
      });
    }
    this.#line.finished(id, error);
  }

  async #queuedAtOf(id: string): Promise<number> {
    const stamp = await this.#reader.hget(`${this.#keys.jobPrefix}${id}`, 'timestamp').catch(() => null);
    return stamp === null ? this.#now() : Number(stamp);
  }

  /** Resolves once `test` holds after an applied event (at once if it holds now), or after `timeoutMs`. */
  #settled(test: () => boolean, timeoutMs = ECHO_TIMEOUT_MS): Promise<void> {
    if (test() || this.#closing.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        test,
        resolve: () => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve();
        },
      };
      const timer = Number.isFinite(timeoutMs) ? setTimeout(waiter.resolve, timeoutMs).unref() : undefined;
      this.#waiters.add(waiter);
    });
  }

  #checkWaiters(): void {
    for (const waiter of this.#waiters) if (waiter.test()) waiter.resolve();
  }

  #report(error: unknown): void {
    this.#options.onError?.(error instanceof Error ? error : new Error(String(error)));
  }

  #full(waiting: number): BosunError {
    return new BosunError('QUEUE_FULL', `The queue is full: ${waiting} runs are waiting and at most ${this.#options.maxQueueLength} may wait`);
  }

  #unavailable(cause?: unknown): BosunError {
    const detail = cause === undefined ? `the connection is ${this.#command.status}` : errorMessage(cause);
    return new BosunError('UNAVAILABLE', `The cluster queue cannot be reached (Redis: ${detail}); bosun reconnects by itself, try again shortly`, {
      cause,
    });
  }
}

function toRecord(fields: readonly string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let index = 0; index + 1 < fields.length; index += 2) record[fields[index]!] = fields[index + 1]!;
  return record;
}

function checkOptions(options: BullMqExecutionQueueOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected an options object, got ${describeValue(options)}`);
  const check = (name: string, value: unknown, range: IntegerRange): void => {
    try {
      checkInteger(name, value, range);
    } catch (error) {
      throw error instanceof InvalidValueError ? new TypeError(error.message, { cause: error }) : error;
    }
  };
  check('maxConcurrency', options.maxConcurrency, MAX_CONCURRENCY_RANGE);
  check('nodeMaxConcurrency', options.nodeMaxConcurrency, { min: 1 });
  check('maxQueueLength', options.maxQueueLength, { min: 1 });
  check('queueTimeoutMs', options.queueTimeoutMs, { min: 1, max: MAX_TIMER_DELAY_MS });
  check('leaseMs', options.leaseMs, { min: 2 });
  if (typeof options.runTask !== 'function') throw new TypeError(`Expected runTask to be a function, got ${describeValue(options.runTask)}`);
  if (typeof options.nodeName !== 'string' || options.nodeName === '') {
    throw new TypeError(`Expected nodeName to be a non-empty string, got ${describeValue(options.nodeName)}`);
  }
}
