/**
 * The in-process {@link ExecutionQueue}. p-queue runs the tasks and enforces the concurrency limit;
 * this class adds what p-queue does not know about: run ids, positions in line, a queue timeout per
 * waiting run, shutdown, and the typed events of the public surface.
 *
 * p-queue 9 facts this relies on (checked against its 9.3.5 source):
 * - `add()` starts a task synchronously, inside the call, when a slot is free and the queue is not paused;
 *   so do the `concurrency` setter and `start()` for waiting tasks.
 * - Aborting the `signal` given to `add()` removes a waiting task synchronously and rejects the `add()` promise.
 *   Aborting it while the task *runs* also rejects `add()` and frees the slot although the task still runs,
 *   so that signal is only ever aborted while the run waits.
 * - A slot is freed a microtask after the task settles, and equal-priority tasks start in insertion order.
 */
import { EventEmitter } from 'node:events';
import PQueue from 'p-queue';
import { BosunError, InvalidValueError, describeValue } from '../errors.js';
import { MAX_TIMER_DELAY_MS } from '../shared/constants.js';
import { checkInteger, isIntegerInRange, type IntegerRange } from '../shared/validate.js';
import type {
  EnqueueOptions,
  ExecutionQueue,
  ExecutionQueueEvents,
  QueueLeaveReason,
  QueueStats,
  QueueTask,
  QueueTicket,
} from './execution-queue.js';
import { utilizationPercent } from './execution-queue.js';
import { WaitingLine } from './waiting-line.js';

export interface AgentExecutionQueueOptions {
  /** Runs that may execute at once; 0 = unlimited. */
  readonly maxConcurrency: number;
  /** Runs that may wait at once; one more is refused with QUEUE_FULL. */
  readonly maxQueueLength: number;
  /** How long a run may wait, counted from its `queuedAt`, before it leaves the line (`timed-out`). */
  readonly queueTimeoutMs: number;
  /** The clock in epoch milliseconds. Default: `Date.now()`. */
  readonly now?: () => number;
}

const MAX_CONCURRENCY_RANGE: IntegerRange = { min: 0, note: '0 = unlimited' };

type EmitFunction = <K extends keyof ExecutionQueueEvents>(name: K, ...args: ExecutionQueueEvents[K]) => boolean;

interface WaitingRun {
  readonly id: string;
  readonly task: QueueTask;
  /** Epoch ms. */
  readonly queuedAt: number;
  /** Epoch ms after which the run may no longer start. */
  readonly deadline: number;
  /** Aborted only while the run waits: p-queue then drops it from its line. */
  readonly leave: AbortController;
  readonly timer: NodeJS.Timeout;
}

/**
 * A bounded FIFO line in front of at most `maxConcurrency` running tasks, in this process.
 *
 * What a caller must know:
 * - When a slot is free, `enqueue` starts the task before it returns (the task's synchronous part runs
 *   inside the call). Its events are still emitted in order before `enqueue` returns:
 *   `enqueued` (position 0), `status`, `started`, `status`. Register the run before calling `enqueue`.
 * - A run whose `queuedAt` is already older than `queueTimeoutMs` (a restored run) never starts: it is put
 *   at the back of the line (the ticket shows its position) and leaves on the next timer tick with `timed-out`.
 *   Likewise a run whose deadline passed while its timer was late is timed out instead of started.
 * - Each started task gets an AbortSignal that aborts only on {@link close}; stopping a running run is the
 *   caller's business (`cancel` only takes waiting runs out of the line).
 * - Listener errors never corrupt the queue: they are rethrown on the next tick, as an uncaught exception.
 * - `stats().running` counts tasks until they settle, so it can exceed a lowered `maxConcurrency`
 *   (and `utilizationPercent` exceed 100) until enough of them finish.
 */
export class AgentExecutionQueue implements ExecutionQueue {
  /** Every event of the queue; `status` follows each change, after that change's per-run events. */
  readonly events = new EventEmitter<ExecutionQueueEvents>();

  readonly #queue: PQueue;
  readonly #maxQueueLength: number;
  readonly #queueTimeoutMs: number;
  readonly #now: () => number;
  #maxConcurrency: number;
  /** Waiting ids, next to start first: p-queue's own line, in the same order. */
  readonly #line = new WaitingLine();
  readonly #waiting = new Map<string, WaitingRun>();
  /** One controller per running task, aborted by close(). */
  readonly #running = new Map<string, AbortController>();
  readonly #idleWaiters: Array<() => void> = [];
  #closed = false;
  /** Set while `enqueue` hands a run to p-queue, so that `enqueued` precedes a synchronous `started`. */
  #held: Array<() => void> | undefined;

  /** @throws TypeError "Expected …, got …" for a missing or invalid option. */
  constructor(options: AgentExecutionQueueOptions) {
    // Each subscription adds listeners; hundreds of clients may follow the queue at once.
    this.events.setMaxListeners(0);
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected an options object, got ${describeValue(options)}`);
    }
    this.#maxConcurrency = checkOption('maxConcurrency', options.maxConcurrency, MAX_CONCURRENCY_RANGE);
    this.#maxQueueLength = checkOption('maxQueueLength', options.maxQueueLength, { min: 1 });
    this.#queueTimeoutMs = checkOption('queueTimeoutMs', options.queueTimeoutMs, { min: 1, max: MAX_TIMER_DELAY_MS });
    const now = options.now ?? (() => Date.now());
    if (typeof now !== 'function') throw new TypeError(`Expected now to be a function, got ${describeValue(now)}`);
    this.#now = now;
    this.#queue = new PQueue({ concurrency: toPQueueConcurrency(this.#maxConcurrency) });
  }

  /**
   * Throws what {@link enqueue} would throw for a new run right now: QUEUE_FULL when
   * `maxQueueLength` runs wait, SHUTTING_DOWN after {@link close}. Lets a caller refuse a run
   * before recording it anywhere.
   */
  assertAdmits(): void {
    if (this.#closed) throw new BosunError('SHUTTING_DOWN', 'Cannot queue a run: the execution queue is closed');
    if (this.#line.length >= this.#maxQueueLength) {
      throw new BosunError(
        'QUEUE_FULL',
        `The queue is full: ${this.#line.length} runs are waiting and at most ${this.#maxQueueLength} may wait`,
      );
    }
  }

  /**
   * Puts a run at the back of the line, or starts it before returning when a slot is free.
   * @param options.queuedAt when the run first entered a line; the queue timeout counts from it (default now,
   *   a time in the future counts as now).
   * @throws TypeError for an empty id, a task that is not a function or an invalid date;
   *   BosunError INVALID_STATE when the id is waiting or running, QUEUE_FULL when `maxQueueLength` runs wait,
   *   SHUTTING_DOWN after {@link close}.
   */
  enqueue(id: string, task: QueueTask, options: EnqueueOptions = {}): QueueTicket {
    if (typeof id !== 'string' || id === '') throw new TypeError(`Expected id to be a non-empty string, got ${describeValue(id)}`);
    if (typeof task !== 'function') throw new TypeError(`Expected task to be a function, got ${describeValue(task)}`);
    const { queuedAt: givenQueuedAt } = options;
    if (givenQueuedAt !== undefined && !(givenQueuedAt instanceof Date && Number.isFinite(givenQueuedAt.getTime()))) {
      throw new TypeError(`Expected queuedAt to be a valid Date, got ${describeValue(givenQueuedAt)}`);
    }
    if (this.#waiting.has(id)) throw new BosunError('INVALID_STATE', `Run ${id} is already waiting in the queue`);
    if (this.#running.has(id)) throw new BosunError('INVALID_STATE', `Run ${id} is already running`);
    this.assertAdmits();

    const now = this.#now();
    const queuedAt = Math.min(givenQueuedAt?.getTime() ?? now, now);
    const deadline = queuedAt + this.#queueTimeoutMs;
    const entry: WaitingRun = {
      id,
      task,
      queuedAt,
      deadline,
      leave: new AbortController(),
      timer: setTimeout(() => this.#timeOut(entry), Math.max(0, deadline - now)).unref(),
    };
    this.#waiting.set(id, entry);
    this.#line.push(id);

    // Events of a start inside add() wait until `enqueued` is out. An expired run is kept out of p-queue
    // (with a free slot p-queue would start it inside add()); its zero-delay timer takes it out of the line.
    const held: Array<() => void> = [];
    if (deadline > now) {
      const outer = this.#held;
      this.#held = held;
      try {
        this.#handOff(entry);
      } finally {
        this.#held = outer;
      }
    }
    // Still waiting means last in line: no need to search the line for it.
    const position = this.#waiting.has(id) ? this.#line.length : 0;
    this.#emit('enqueued', { id, position, queuedAt: new Date(queuedAt) });
    this.#emit('status', this.stats());
    for (const deliver of held) this.#dispatch(deliver);
    return this.#ticket(position);
  }

  /** Takes a waiting run out of the line (event `left`, reason `cancelled`). Returns false when it is not waiting. */
  cancel(id: string): boolean {
    const entry = this.#waiting.get(id);
    if (entry === undefined) return false;
    this.#leave(entry, 'cancelled');
    return true;
  }

  /** 1 = next to start; 0 = not waiting. */
  position(id: string): number {
    return this.#line.position(id);
  }

  /** The ids of waiting runs, next to start first. */
  waitingIds(): readonly string[] {
    return this.#line.toArray();
  }

  /** Whether the run's task has started and not yet settled. */
  isRunning(id: string): boolean {
    return this.#running.has(id);
  }

  /** A snapshot; `paused` is also true after {@link close}. */
  stats(): QueueStats {
    const running = this.#running.size;
    return {
      running,
      queued: this.#line.length,
      maxConcurrency: this.#maxConcurrency,
      utilizationPercent: utilizationPercent(running, this.#maxConcurrency),
      paused: this.#queue.isPaused,
    };
  }

  /**
   * Changes the limit at runtime (emits `status` when it changed). Raising it starts waiting runs before
   * returning; lowering it lets running runs finish and starts none until fewer than the new limit run.
   * @throws InvalidValueError unless `value` is an integer ≥ 0 (0 = unlimited).
   */
  setMaxConcurrency(value: number): void {
    if (!isIntegerInRange(value, MAX_CONCURRENCY_RANGE)) throw new InvalidValueError('an integer ≥ 0 (0 = unlimited)', value);
    if (value === this.#maxConcurrency) return;
    this.#maxConcurrency = value;
    // p-queue's setter starts waiting tasks synchronously; their events come before this status.
    this.#queue.concurrency = toPQueueConcurrency(value);
    this.#emit('status', this.stats());
  }

  /** Starts nothing until {@link resume}; waiting runs keep their place and their queue-timeout clock. */
  pause(): void {
    if (this.#closed || this.#queue.isPaused) return;
    this.#queue.pause();
    this.#emit('status', this.stats());
  }

  /** Starts waiting runs again, up to the limit, before returning. Does nothing after {@link close}. */
  resume(): void {
    if (this.#closed || !this.#queue.isPaused) return;
    this.#queue.start();
    this.#emit('status', this.stats());
  }

  /** Resolves when nothing runs and nothing waits (and p-queue has released every slot). */
  async onIdle(): Promise<void> {
    while (!this.#isIdle()) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    await this.#queue.onIdle();
  }

  /**
   * Stops starting runs, takes every waiting run out of the line (event `left`, reason `cleared`, next to start
   * first, without position changes) and aborts every running task's signal with a SHUTTING_DOWN BosunError.
   * Running tasks still emit `finished` when they settle. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.pause();
    const leaving = this.#line.clear().map((id) => this.#waiting.get(id)!);
    this.#waiting.clear();
    for (const entry of leaving) {
      clearTimeout(entry.timer);
      entry.leave.abort();
    }
    const now = this.#now();
    for (const entry of leaving) {
      this.#emit('left', { id: entry.id, reason: 'cleared', waitedMs: Math.max(0, now - entry.queuedAt) });
    }
    for (const controller of this.#running.values()) {
      controller.abort(new BosunError('SHUTTING_DOWN', 'The execution queue is closing'));
    }
    this.#emit('status', this.stats());
    this.#wakeIdleWaiters();
  }

  #handOff(entry: WaitingRun): void {
    this.#queue.add(() => this.#execute(entry), { signal: entry.leave.signal }).catch((error: unknown) => {
      // Expected only when the run left the line; #execute itself does not throw.
      if (!entry.leave.signal.aborted) rethrowLater(error);
    });
  }

  /** Called by p-queue when the run gets a slot. */
  async #execute(entry: WaitingRun): Promise<void> {
    const now = this.#now();
    if (now >= entry.deadline) {
      // Its timer is late (a busy event loop); the run must not start after its deadline.
      this.#leave(entry, 'timed-out');
      return;
    }
    const moved = this.#removeFromLine(entry);
    const controller = new AbortController();
    this.#running.set(entry.id, controller);
    this.#emit('started', { id: entry.id, waitedMs: Math.max(0, now - entry.queuedAt) });
    for (const event of moved) this.#emit('position-changed', event);
    this.#emit('status', this.stats());

    let failure: { error: unknown } | undefined;
    try {
      await entry.task(controller.signal);
    } catch (error) {
      failure = { error };
    }
    this.#running.delete(entry.id);
    this.#emit('finished', failure === undefined ? { id: entry.id } : { id: entry.id, error: failure.error });
    this.#emit('status', this.stats());
    this.#wakeIdleWaiters();
  }

  #timeOut(entry: WaitingRun): void {
    if (this.#waiting.get(entry.id) === entry) this.#leave(entry, 'timed-out');
  }

  #leave(entry: WaitingRun, reason: QueueLeaveReason): void {
    const moved = this.#removeFromLine(entry);
    entry.leave.abort();
    this.#emit('left', { id: entry.id, reason, waitedMs: Math.max(0, this.#now() - entry.queuedAt) });
    for (const event of moved) this.#emit('position-changed', event);
    this.#emit('status', this.stats());
    this.#wakeIdleWaiters();
  }

  /**
   * Removes a waiting run from the line; returns the new positions of the runs that were behind
   * it. Nobody listening for positions means nobody needs them: with a long line that saves
   * building one event per waiting run at every start (quadratic over a backlog).
   */
  #removeFromLine(entry: WaitingRun): Array<{ id: string; position: number }> {
    clearTimeout(entry.timer);
    this.#waiting.delete(entry.id);
    const index = this.#line.remove(entry.id);
    if (index === -1) return [];
    if (this.events.listenerCount('position-changed') === 0) return [];
    return this.#line.from(index).map((id, offset) => ({ id, position: index + offset + 1 }));
  }

  #ticket(position: number): QueueTicket {
    return { position, running: this.#running.size, queued: this.#line.length, maxConcurrency: this.#maxConcurrency };
  }

  #isIdle(): boolean {
    return this.#running.size === 0 && this.#line.length === 0;
  }

  #wakeIdleWaiters(): void {
    if (!this.#isIdle()) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  #emit<K extends keyof ExecutionQueueEvents>(name: K, ...args: ExecutionQueueEvents[K]): void {
    this.#dispatch(() => {
      // A throwing listener must not leave the queue half-updated (this may run inside p-queue).
      try {
        // Node's typings cannot relate a generic K to its payload; the signature above keeps the pair checked.
        (this.events as unknown as { emit: EmitFunction }).emit(name, ...args);
      } catch (error) {
        rethrowLater(error);
      }
    });
  }

  #dispatch(deliver: () => void): void {
    if (this.#held === undefined) deliver();
    else this.#held.push(deliver);
  }
}

/**
 * The shared integer check, as the TypeError that every invalid option of this class throws (like a
 * missing options object or `now`): "Expected maxQueueLength to be an integer of at least 1, got 0".
 */
function checkOption(name: string, value: unknown, range: IntegerRange): number {
  try {
    return checkInteger(name, value, range);
  } catch (error) {
    throw error instanceof InvalidValueError ? new TypeError(error.message, { cause: error }) : error;
  }
}

/** p-queue has no "unlimited" value below 1: Infinity is its default and means exactly that. */
function toPQueueConcurrency(maxConcurrency: number): number {
  return maxConcurrency === 0 ? Number.POSITIVE_INFINITY : maxConcurrency;
}

function rethrowLater(error: unknown): void {
  process.nextTick(() => {
    throw error;
  });
}
