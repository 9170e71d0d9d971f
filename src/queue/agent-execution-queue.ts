/**
 * The in-process {@link ExecutionQueue}. p-queue runs the tasks under the concurrency limit; a
 * {@link WaitingLine}, given to p-queue as its queue, holds the waiting runs; this class adds run ids,
 * shutdown and the typed events of the public surface.
 *
 * Why it is built this way:
 * - p-queue stays the engine that decides *when* a run starts: at once inside `add()` when a slot is
 *   free, when the limit is raised, on resume, a microtask after a task settles. Its documented
 *   `queueClass` option lets the line decide *which*, so there is one line: order, positions and
 *   queue deadlines have a single source of truth.
 * - A run leaves the line without starting (cancel, queue timeout, close) by being taken out of the
 *   line directly, never through p-queue: its `add()` promise then stays pending and is collected with
 *   it. A waiting run so costs a line entry and a share of a timer (one per deadline millisecond),
 *   where an AbortController with p-queue's listeners on it used to cost more than all the rest of a
 *   dispatch.
 * - Running tasks share one signal, the queue's, that aborts on {@link AgentExecutionQueue.close} and on
 *   nothing else (so a task that settled before the close sees it aborted too; it no longer listens).
 * - Events nobody listens to are not built; a start inside `enqueue` holds its events until `enqueued`
 *   is out ({@link QueueEventRelay}).
 *
 * p-queue 9 facts this relies on (checked against its 9.3.5 source):
 * - `add()` calls the queue's `enqueue()`, then, when a slot is free and it is not paused, `dequeue()` and
 *   the task it returns, synchronously inside the call; so do the `concurrency` setter and `start()`.
 * - It calls `dequeue()` only while the queue's `size` is above 0, and runs what it returns at once.
 * - A slot is freed a microtask after the task settles; `pause()` only stops further starts.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import PQueue from 'p-queue';
import { BosunError, InvalidValueError, describeValue } from '../errors.js';
import { MAX_TIMER_DELAY_MS } from '../shared/constants.js';
import { checkInteger, describeIntegerRange, isIntegerInRange, type IntegerRange } from '../shared/validate.js';
import type {
  EnqueueOptions,
  ExecutionQueue,
  ExecutionQueueEvents,
  QueueLeaveReason,
  QueueStats,
  QueueTaskHandler,
  QueueTicket,
} from './execution-queue.js';
import { utilizationPercent } from './execution-queue.js';
import { QueueEventRelay } from './queue-event-relay.js';
import { WaitingLine, type LineEntry, type LineOptions } from './waiting-line.js';

export interface AgentExecutionQueueOptions {
  /** Runs a started run's work (see {@link QueueTaskHandler}); a rejection is reported in `finished`. */
  readonly runTask: QueueTaskHandler;
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

interface WaitingRun extends LineEntry {
  /** Epoch ms; the run's deadline is `queuedAt + queueTimeoutMs`. */
  readonly queuedAt: number;
}

/**
 * A bounded FIFO line in front of at most `maxConcurrency` running tasks, in this process.
 *
 * What a caller must know:
 * - The interface's changes are asynchronous (a shared backend answers over the network), but this
 *   queue makes each change inside the call, before it returns its promise: after `pause()` nothing
 *   starts, after `cancel(id)` the run has left (`left` was emitted), even before anyone awaits.
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

  readonly #relay = new QueueEventRelay(this.events);
  readonly #line: WaitingLine<WaitingRun>;
  readonly #queue: PQueue<WaitingLine<WaitingRun>, LineOptions<WaitingRun>>;
  readonly #maxQueueLength: number;
  readonly #queueTimeoutMs: number;
  readonly #now: () => number;
  readonly #runTask: QueueTaskHandler;
  #maxConcurrency: number;
  /** Ids of the tasks that have started and not settled yet. */
  readonly #running = new Set<string>();
  /** Its signal is given to every started task; aborted by close(). */
  readonly #closing = new AbortController();
  readonly #idleWaiters: Array<() => void> = [];

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
    if (typeof options.runTask !== 'function') throw new TypeError(`Expected runTask to be a function, got ${describeValue(options.runTask)}`);
    this.#runTask = options.runTask;
    // Every running task may listen to it: as many listeners as runs at once.
    setMaxListeners(0, this.#closing.signal);
    this.#line = new WaitingLine<WaitingRun>({ now, onTimeout: (entry) => this.#leave(entry, 'timed-out') });
    this.#queue = new PQueue({
      concurrency: toPQueueConcurrency(this.#maxConcurrency),
      queueClass: this.#line.asQueueClass(),
    });
  }

  /**
   * Throws what {@link enqueue} would throw for a new run right now: QUEUE_FULL when
   * `maxQueueLength` runs wait, SHUTTING_DOWN after {@link close}. Lets a caller refuse a run
   * before recording it anywhere.
   */
  assertAdmits(): void {
    if (this.#closing.signal.aborted) throw new BosunError('SHUTTING_DOWN', 'Cannot queue a run: the execution queue is closed');
    if (this.#line.length >= this.#maxQueueLength) {
      throw new BosunError('QUEUE_FULL', `The queue is full: ${this.#line.length} runs are waiting and at most ${this.#maxQueueLength} may wait`);
    }
  }

  /**
   * Puts a run at the back of the line, or starts it before returning when a slot is free.
   * @param options.queuedAt when the run first entered a line; the queue timeout counts from it (default now,
   *   a time in the future counts as now).
   * @throws (as rejections) TypeError for an empty id or an invalid date;
   *   BosunError INVALID_STATE when the id is waiting or running, QUEUE_FULL when `maxQueueLength` runs wait,
   *   SHUTTING_DOWN after {@link close}.
   */
  // eslint-disable-next-line @typescript-eslint/require-await -- done inside the call (see the class comment); async so that a refusal rejects
  async enqueue(id: string, options: EnqueueOptions = {}): Promise<QueueTicket> {
    if (typeof id !== 'string' || id === '') throw new TypeError(`Expected id to be a non-empty string, got ${describeValue(id)}`);
    const { queuedAt: givenQueuedAt } = options;
    if (givenQueuedAt !== undefined && !(givenQueuedAt instanceof Date && Number.isFinite(givenQueuedAt.getTime()))) {
      throw new TypeError(`Expected queuedAt to be a valid Date, got ${describeValue(givenQueuedAt)}`);
    }
    if (this.#line.has(id)) throw new BosunError('INVALID_STATE', `Run ${id} is already waiting in the queue`);
    if (this.#running.has(id)) throw new BosunError('INVALID_STATE', `Run ${id} is already running`);
    this.assertAdmits();

    const now = this.#now();
    const queuedAt = Math.min(givenQueuedAt?.getTime() ?? now, now);
    const entry: WaitingRun = { id, queuedAt, deadline: queuedAt + this.#queueTimeoutMs };
    let release: (() => void) | undefined;
    if (entry.deadline > now) {
      // The events of a start inside add() wait until `enqueued` is out. #execute never rejects, and a run
      // that leaves the line without starting leaves this promise pending, to be collected with the run.
      release = this.#relay.hold(() => void this.#queue.add(() => this.#execute(entry), { id, entry }));
    } else {
      // Already past its deadline (a restored run): with a free slot p-queue would start it inside add().
      // Held in line instead, it leaves on its zero-delay timer.
      this.#line.hold(entry);
    }
    // Still waiting means last in line: nothing entered after it.
    const position = this.#line.has(id) ? this.#line.length : 0;
    if (this.#relay.listening('enqueued')) this.#relay.emit('enqueued', { id, position, queuedAt: new Date(queuedAt) });
    this.#emitStatus();
    release?.();
    return { position, running: this.#running.size, queued: this.#line.length, maxConcurrency: this.#maxConcurrency };
  }

  /** Takes a waiting run out of the line (event `left`, reason `cancelled`). Resolves false when it is not waiting. */
  cancel(id: string): Promise<boolean> {
    const entry = this.#line.get(id);
    if (entry === undefined) return Promise.resolve(false);
    this.#leave(entry, 'cancelled');
    return Promise.resolve(true);
  }

  /** 1 = next to start; 0 = not waiting. */
  position(id: string): number {
    return this.#line.position(id);
  }

  /** The ids of waiting runs, next to start first. */
  waitingIds(): readonly string[] {
    return this.#line.ids();
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
   * @throws InvalidValueError (as a rejection) unless `value` is an integer of at least 0 (0 = unlimited).
   */
  // eslint-disable-next-line @typescript-eslint/require-await -- done inside the call; async so that a bad value rejects
  async setMaxConcurrency(value: number): Promise<void> {
    if (!isIntegerInRange(value, MAX_CONCURRENCY_RANGE)) throw new InvalidValueError(describeIntegerRange(MAX_CONCURRENCY_RANGE), value);
    if (value === this.#maxConcurrency) return;
    this.#maxConcurrency = value;
    // p-queue's setter starts waiting tasks synchronously; their events come before this status.
    this.#queue.concurrency = toPQueueConcurrency(value);
    this.#emitStatus();
  }

  /** Starts nothing until {@link resume}; waiting runs keep their place and their queue-timeout clock. */
  pause(): Promise<void> {
    if (this.#closing.signal.aborted || this.#queue.isPaused) return Promise.resolve();
    this.#queue.pause();
    this.#emitStatus();
    return Promise.resolve();
  }

  /** Starts waiting runs again, up to the limit, before returning. Does nothing after {@link close}. */
  resume(): Promise<void> {
    if (this.#closing.signal.aborted || !this.#queue.isPaused) return Promise.resolve();
    this.#queue.start();
    this.#emitStatus();
    return Promise.resolve();
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
  close(): Promise<void> {
    if (this.#closing.signal.aborted) return Promise.resolve();
    this.#queue.pause();
    const leaving = this.#line.clear();
    const now = this.#now();
    if (this.#relay.listening('left')) {
      for (const entry of leaving) {
        this.#relay.emit('left', { id: entry.id, reason: 'cleared', waitedMs: Math.max(0, now - entry.queuedAt) });
      }
    }
    this.#closing.abort(new BosunError('SHUTTING_DOWN', 'The execution queue is closing'));
    this.#emitStatus();
    this.#wakeIdleWaiters();
    return Promise.resolve();
  }

  /** The task p-queue runs for a run: called when p-queue takes it from the line, that is when it may start. */
  async #execute(entry: WaitingRun): Promise<void> {
    const index = this.#line.takeOut(entry);
    // Not in line any more: it left after p-queue took it (a guard; p-queue runs what it takes at once).
    if (index === -1) return;
    const now = this.#now();
    if (now >= entry.deadline) {
      // Its timer is late (a busy event loop); the run must not start after its deadline.
      this.#hasLeft(entry, index, 'timed-out', now);
      return;
    }
    const moved = this.#movedUp(index);
    this.#running.add(entry.id);
    if (this.#relay.listening('started')) this.#relay.emit('started', { id: entry.id, waitedMs: Math.max(0, now - entry.queuedAt) });
    this.#emitMoved(moved);
    this.#emitStatus();

    let failure: { error: unknown } | undefined;
    try {
      await this.#runTask(entry.id, this.#closing.signal);
    } catch (error) {
      failure = { error };
    }
    this.#running.delete(entry.id);
    if (this.#relay.listening('finished')) {
      this.#relay.emit('finished', failure === undefined ? { id: entry.id } : { id: entry.id, error: failure.error });
    }
    this.#emitStatus();
    this.#wakeIdleWaiters();
  }

  #leave(entry: WaitingRun, reason: QueueLeaveReason): void {
    const index = this.#line.takeOut(entry);
    if (index !== -1) this.#hasLeft(entry, index, reason, this.#now());
  }

  /** The events of a run that left the line at `index` without starting. */
  #hasLeft(entry: WaitingRun, index: number, reason: QueueLeaveReason, now: number): void {
    const moved = this.#movedUp(index);
    if (this.#relay.listening('left')) this.#relay.emit('left', { id: entry.id, reason, waitedMs: Math.max(0, now - entry.queuedAt) });
    this.#emitMoved(moved);
    this.#emitStatus();
    this.#wakeIdleWaiters();
  }

  /**
   * The new positions of the runs behind one that left the line at `index`. Nobody listening for
   * positions means nobody needs them: with a long line that saves one event per waiting run at
   * every start (quadratic over a backlog).
   */
  #movedUp(index: number): Array<{ id: string; position: number }> {
    if (!this.#relay.listening('position-changed')) return [];
    return this.#line.from(index).map((entry, offset) => ({ id: entry.id, position: index + offset + 1 }));
  }

  #emitMoved(moved: ReadonlyArray<{ id: string; position: number }>): void {
    for (const event of moved) this.#relay.emit('position-changed', event);
  }

  #emitStatus(): void {
    if (this.#relay.listening('status')) this.#relay.emit('status', this.stats());
  }

  #isIdle(): boolean {
    return this.#running.size === 0 && this.#line.length === 0;
  }

  #wakeIdleWaiters(): void {
    if (!this.#isIdle()) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
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
