/**
 * This node's share of the cluster's work: a BullMQ Worker on a connection of its own, taking jobs
 * under the node's cap and the queue's global concurrency, and calling the node's `runTask(id,
 * signal)` for each. It records which node runs a job before the task starts (so a node that dies
 * is named), keeps each task's error for the `finished` event, and owns the tasks' signals: all
 * abort on close, one aborts when the cluster reports its run lost.
 *
 * Lease: a job's lock lasts half the lease and is renewed every quarter; the stalled check runs every
 * half lease. A dead node's lock so lapses at most half a lease after it died, and the next check of
 * a live worker finds it within another half: within the lease. `maxStalledCount` 0 makes BullMQ fail
 * such a job instead of running it again.
 *
 * A paused worker (this node's engine is down, or it is shutting down) still makes the stalled checks:
 * BullMQ 6.7.0's pause() ends its stalled-check loop (it bumps the loop's generation, and the loop
 * runs only while not paused), so a cluster whose live nodes are all paused would never find a dead
 * node's jobs. While paused, this worker runs the same check itself (its backend's
 * moveStalledJobsToWait, the script BullMQ's loop calls) every half lease, until it resumes.
 */
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { BosunError } from '../errors.js';
import type { QueueTaskHandler } from './execution-queue.js';
import type { QueueScripts } from './bullmq-scripts.js';
import type { ResetScripts } from './bullmq-reset-scripts.js';

export interface NodeWorkerOptions {
  readonly redisUrl: string;
  readonly queueName: string;
  readonly prefix: string;
  readonly nodeName: string;
  readonly nodeMaxConcurrency: number;
  readonly leaseMs: number;
  readonly runTask: QueueTaskHandler;
  /** Scripts on a connection that fails fast while Redis is away. */
  readonly scripts: QueueScripts;
  /** A task that outlived Redis's data settled: no event from Redis will free its slot. */
  readonly onOrphanSettled: (id: string, error: unknown) => void;
  readonly onError: (error: unknown) => void;
}

interface Task {
  readonly controller: AbortController;
  readonly settled: Promise<void>;
  /** The job's lock token, which the worker renews: what a job put back after a data loss is locked with. */
  readonly token: string | undefined;
  /** The job's queue time (epoch ms). */
  readonly queuedAt: number;
}

export class NodeWorker {
  readonly #options: NodeWorkerOptions;
  readonly #connection: Redis;
  #worker: Worker | undefined;
  readonly #closing = new AbortController();
  readonly #tasks = new Map<string, Task>();
  /** The errors of this node's failed tasks, until the stream reports the failure. */
  readonly #errors = new Map<string, unknown>();
  /** Tasks that outlived Redis's data. */
  #orphans = new Set<string>();
  /** The stalled checks of a paused worker (see the file's comment); undefined while BullMQ makes them. */
  #pausedChecks: { timer: NodeJS.Timeout | undefined; stopped: boolean } | undefined;
  /** This node's cap now: `nodeMaxConcurrency` until {@link setConcurrency} moves it (0 = none of its own). */
  #concurrency: number;

  constructor(options: NodeWorkerOptions) {
    this.#options = options;
    this.#concurrency = options.nodeMaxConcurrency;
    // Blocking commands must wait for a reconnection, not fail: no retry limit.
    this.#connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    this.#connection.on('error', options.onError);
  }

  async start(): Promise<void> {
    await this.#connection.connect();
    const { leaseMs, nodeName, onError } = this.#options;
    const worker = new Worker(this.#options.queueName, (job: Job, token?: string, signal?: AbortSignal) => this.#process(job, token, signal), {
      connection: this.#connection,
      prefix: this.#options.prefix,
      name: nodeName,
      concurrency: workerConcurrency(this.#concurrency),
      lockDuration: halfLease(leaseMs),
      stalledInterval: halfLease(leaseMs),
      maxStalledCount: 0,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 0 },
    });
    this.#worker = worker;
    worker.on('error', onError);
    worker.on('completed', (job) => void this.#forgetNode(job.id));
    worker.on('failed', (job) => void this.#forgetNode(job?.id));
    await worker.waitUntilReady();
  }

  /** This node's cap now (0 = none of its own: only the cluster's limit holds). */
  get concurrency(): number {
    return this.#concurrency;
  }

  /**
   * Moves this node's cap (the autoscaler's lever; the caller checks the range). Lowering lets the
   * running tasks finish; raising takes more jobs at once, even when the worker is full now.
   */
  setConcurrency(value: number): void {
    this.#concurrency = value;
    const worker = this.#worker;
    if (worker === undefined) return;
    worker.concurrency = workerConcurrency(value);
    // A full worker waits for one of its tasks to end before it fetches again, whatever its cap:
    // woken as BullMQ's own resume() wakes it (an empty entry in its main loop's queue), so that a
    // raise takes effect now rather than when a run ends. Internal to BullMQ 6.7.0 (pinned); without
    // it the raise still takes effect, at the next task's end.
    (worker as unknown as { mainLoopQueue?: { add(item: Promise<undefined>): void } | null }).mainLoopQueue?.add(Promise.resolve(undefined));
  }

  /** Ids of the tasks running on this node. */
  localIds(): ReadonlySet<string> {
    return new Set(this.#tasks.keys());
  }

  /** The error to report for a failed job: this node's own when it ran it, else the stream's reason. */
  failure(id: string, reason: string | undefined): unknown {
    const error = this.#errors.get(id);
    this.#errors.delete(id);
    return error ?? new Error(reason ?? 'The task failed');
  }

  forget(id: string): void {
    this.#errors.delete(id);
  }

  /** Redis lost its data: the tasks running now will free their slot themselves when they settle. */
  orphanAll(): void {
    this.#orphans = new Set(this.#tasks.keys());
  }

  /**
   * After {@link orphanAll}: puts each task still running back in Redis as a running job, locked with
   * the token its worker renews (see bullmq-reset-scripts.ts), so that the cluster's limit counts it
   * again; its end then frees its slot as any job's does, and it is no orphan any more. A task that
   * cannot be put back, or that settles meanwhile, stays an orphan (a job put back for a task that
   * settled meanwhile is no longer renewed: the stalled check fails it, and no mirror showed it).
   */
  async adoptAll(reset: ResetScripts): Promise<void> {
    const { nodeName, leaseMs, onError } = this.#options;
    for (const [id, task] of [...this.#tasks]) {
      if (task.token === undefined || !this.#orphans.has(id)) continue;
      const adopted = await reset
        .adopt(id, { token: task.token, lockMs: halfLease(leaseMs) }, { node: nodeName, queuedAt: task.queuedAt, now: Date.now() })
        .catch((error: unknown) => {
          onError(error);
          return false;
        });
      if (adopted && this.#tasks.get(id) === task) this.#orphans.delete(id);
    }
  }

  /**
   * Stops this node taking jobs (the other nodes go on); its running tasks go on. For this node's
   * own reasons: its engine does not answer, or it is shutting down.
   */
  async pause(): Promise<void> {
    const worker = this.#worker;
    if (worker === undefined) return;
    // Not waiting for the running tasks: they end on their own, and a task may be what pauses.
    await worker.pause(true);
    this.#checkStalledWhilePaused(worker);
    // An idle worker is blocked waiting for the next job, and that wait would still take one: it is
    // interrupted (BullMQ then reconnects the blocking connection, and takes nothing while paused).
    // What pause() does itself when it waits for the running tasks.
    await worker.backend.disconnectBlocking(true);
  }

  /** Lets this node take jobs again (BullMQ's own stalled checks start again with it). */
  async resume(): Promise<void> {
    this.#stopPausedChecks();
    await this.#worker?.resume();
  }

  /** Stops one task (the cluster counts its run as lost). */
  abort(id: string, reason: BosunError): void {
    this.#tasks.get(id)?.controller.abort(reason);
  }

  /**
   * Takes no more jobs, aborts every task's signal with a SHUTTING_DOWN BosunError, waits for the
   * tasks to settle and for the worker to record them, then closes the connection.
   */
  async close(): Promise<void> {
    this.#closing.abort(new BosunError('SHUTTING_DOWN', 'The execution queue is closing'));
    this.#stopPausedChecks();
    await Promise.all([...this.#tasks.values()].map((task) => task.settled));
    try {
      // With Redis away the worker could not record the settled jobs and would retry for ever: it
      // leaves them (the other nodes report them lost once the lease lapses).
      await this.#worker?.close(this.#connection.status !== 'ready');
    } catch (error) {
      this.#options.onError(error);
    }
    if (this.#connection.status === 'ready') await this.#connection.quit().catch(() => this.#connection.disconnect());
    else this.#connection.disconnect();
  }

  /** Makes BullMQ's stalled check every half lease while the worker is paused, one at a time. */
  #checkStalledWhilePaused(worker: Worker): void {
    // Not once a resume came while the pause was under way: BullMQ's own checks run again then.
    if (this.#pausedChecks !== undefined || this.#closing.signal.aborted || !worker.isPaused()) return;
    const checks: { timer: NodeJS.Timeout | undefined; stopped: boolean } = { timer: undefined, stopped: false };
    const next = (): void => {
      if (checks.stopped) return;
      checks.timer = setTimeout(() => {
        // The script itself lets one check run per interval cluster-wide; its 'stalled' events reach
        // every node through the stream, as those of BullMQ's own loop do.
        worker.backend
          .moveStalledJobsToWait()
          .catch((error: unknown) => this.#options.onError(error))
          .finally(next);
      }, halfLease(this.#options.leaseMs));
      checks.timer.unref();
    };
    this.#pausedChecks = checks;
    next();
  }

  #stopPausedChecks(): void {
    const checks = this.#pausedChecks;
    if (checks === undefined) return;
    checks.stopped = true;
    clearTimeout(checks.timer);
    this.#pausedChecks = undefined;
  }

  async #process(job: Job, token: string | undefined, jobSignal: AbortSignal | undefined): Promise<void> {
    const id = job.id;
    if (id === undefined) return;
    const controller = new AbortController();
    let settle = (): void => undefined;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    this.#tasks.set(id, { controller, settled, token, queuedAt: job.timestamp });
    let failure: unknown;
    try {
      await this.#options.scripts.markRunning(id, this.#options.nodeName).catch((error: unknown) => this.#options.onError(error));
      const signals = [this.#closing.signal, controller.signal];
      if (jobSignal !== undefined) signals.push(jobSignal);
      await this.#options.runTask(id, AbortSignal.any(signals));
    } catch (error) {
      failure = error;
      this.#errors.set(id, error);
      throw error;
    } finally {
      this.#tasks.delete(id);
      settle();
      if (this.#orphans.delete(id)) {
        this.#errors.delete(id);
        this.#options.onOrphanSettled(id, failure);
      }
    }
  }

  async #forgetNode(id: string | undefined): Promise<void> {
    if (id !== undefined) await this.#options.scripts.forgetNode(id).catch((error: unknown) => this.#options.onError(error));
  }
}

/** BullMQ needs a finite cap of at least 1; it only ever compares it with a count. */
function workerConcurrency(cap: number): number {
  return cap === 0 ? Number.MAX_SAFE_INTEGER : cap;
}

/** The lock's duration and the stalled checks' interval: half the lease (see the file's comment). */
function halfLease(leaseMs: number): number {
  return Math.max(1, Math.floor(leaseMs / 2));
}
