/**
 * One node's mirror of the cluster's line: the waiting runs in order, the running runs and the node
 * of each, pause and limit. It is kept from the shared queue's events stream, which every node reads
 * in the same order, so every mirror goes through the same states and emits the same events as the
 * in-process queue does (`enqueued`, `position-changed` for every waiting run that moved, `started`,
 * `finished`, `left`, `status` last) — exact once the events have arrived.
 *
 * The mirror decides nothing: it records what the stream says happened. A deadline that passes is
 * reported through `onDue`, and the owner asks Redis to take the run out (one node succeeds).
 */
import type { EventEmitter } from 'node:events';
import type { ExecutionQueueEvents, QueueLeaveReason, QueueStats } from './execution-queue.js';
import { utilizationPercent } from './execution-queue.js';
import { DeadlineTimers } from './deadline-timers.js';
import { QueueEventRelay } from './queue-event-relay.js';

export interface LineRun {
  readonly id: string;
  /** Epoch ms. */
  readonly queuedAt: number;
}

interface RunningRun {
  readonly id: string;
  node: string | undefined;
}

export interface ClusterLineOptions {
  readonly events: EventEmitter<ExecutionQueueEvents>;
  readonly now: () => number;
  readonly queueTimeoutMs: number;
  /** A waiting run's deadline has passed (on this node's clock). */
  readonly onDue: (id: string) => void;
}

/** Admissions not followed by their add are forgotten after this long. */
const PENDING_ADMISSION_MS = 60_000;

export class ClusterLine {
  readonly #relay: QueueEventRelay;
  readonly #now: () => number;
  readonly #queueTimeoutMs: number;
  /** Next to start first. */
  #waiting: LineRun[] = [];
  readonly #running = new Map<string, RunningRun>();
  /** Admitted runs whose add has not been seen yet: their queue time and whether they go to the front. */
  readonly #admitted = new Map<string, { queuedAt: number; front: boolean; seenAt: number }>();
  readonly #deadlines: DeadlineTimers<LineRun>;
  #paused = false;
  #maxConcurrency: number;

  constructor(options: ClusterLineOptions, maxConcurrency: number) {
    this.#relay = new QueueEventRelay(options.events);
    this.#now = options.now;
    this.#queueTimeoutMs = options.queueTimeoutMs;
    this.#maxConcurrency = maxConcurrency;
    this.#deadlines = new DeadlineTimers<LineRun>({ now: options.now, onDue: (run) => options.onDue(run.id) });
  }

  get length(): number {
    return this.#waiting.length;
  }

  get maxConcurrency(): number {
    return this.#maxConcurrency;
  }

  get paused(): boolean {
    return this.#paused;
  }

  position(id: string): number {
    return this.#waiting.findIndex((run) => run.id === id) + 1;
  }

  ids(): readonly string[] {
    return this.#waiting.map((run) => run.id);
  }

  isWaiting(id: string): boolean {
    return this.position(id) > 0;
  }

  isRunning(id: string): boolean {
    return this.#running.has(id);
  }

  nodeOf(id: string): string | undefined {
    return this.#running.get(id)?.node;
  }

  get runningCount(): number {
    return this.#running.size;
  }

  stats(): QueueStats {
    const running = this.#running.size;
    return {
      running,
      queued: this.#waiting.length,
      maxConcurrency: this.#maxConcurrency,
      utilizationPercent: utilizationPercent(running, this.#maxConcurrency),
      paused: this.#paused,
    };
  }

  /** `bosun-admitted`: the run's add follows. */
  admitted(id: string, queuedAt: number, front: boolean): void {
    const now = this.#now();
    for (const [other, pending] of this.#admitted) {
      if (now - pending.seenAt > PENDING_ADMISSION_MS) this.#admitted.delete(other);
    }
    this.#admitted.set(id, { queuedAt, front, seenAt: now });
  }

  /** The queue time announced for `id`, if its admission was seen. */
  announcedQueuedAt(id: string): number | undefined {
    return this.#admitted.get(id)?.queuedAt;
  }

  /** BullMQ `waiting` for a new job: it entered the line, at the back (or at the front for a restored run). */
  added(id: string, fallbackQueuedAt: number): void {
    if (this.isWaiting(id) || this.#running.has(id)) return;
    const pending = this.#admitted.get(id);
    this.#admitted.delete(id);
    const run: LineRun = { id, queuedAt: pending?.queuedAt ?? fallbackQueuedAt };
    let moved: Array<{ id: string; position: number }> = [];
    if (pending?.front === true) {
      this.#waiting.unshift(run);
      moved = this.#positionsFrom(1);
    } else {
      this.#waiting.push(run);
    }
    this.#deadlines.add(run, run.queuedAt + this.#queueTimeoutMs);
    if (this.#relay.listening('enqueued')) {
      this.#relay.emit('enqueued', { id, position: this.position(id), queuedAt: new Date(run.queuedAt) });
    }
    this.#emitMoved(moved);
    this.#emitStatus();
  }

  /**
   * `bosun-expired`: a run already past its deadline entered (a restored one). As in the in-process
   * queue, it shows at the back of the line and times out at once, without ever starting.
   */
  expired(id: string, queuedAt: number, byThisNode?: boolean): void {
    if (this.isWaiting(id) || this.#running.has(id)) return;
    if (this.#relay.listening('enqueued')) {
      this.#relay.emit('enqueued', { id, position: this.#waiting.length + 1, queuedAt: new Date(queuedAt) });
    }
    if (this.#relay.listening('status')) this.#relay.emit('status', { ...this.stats(), queued: this.#waiting.length + 1 });
    if (this.#relay.listening('left')) {
      this.#relay.emit('left', { id, reason: 'timed-out', waitedMs: Math.max(0, this.#now() - queuedAt), ...leftBy(byThisNode) });
    }
    this.#emitStatus();
  }

  /** BullMQ `active`: a worker took the run. Ignored for a run not waiting (a dead node's job taken to be failed). */
  started(id: string): void {
    const index = this.#waiting.findIndex((run) => run.id === id);
    if (index === -1) return;
    const [run] = this.#waiting.splice(index, 1) as [LineRun];
    this.#deadlines.delete(run, run.queuedAt + this.#queueTimeoutMs);
    this.#running.set(id, { id, node: undefined });
    if (this.#relay.listening('started')) this.#relay.emit('started', { id, waitedMs: Math.max(0, this.#now() - run.queuedAt) });
    this.#emitMoved(this.#positionsFrom(index));
    this.#emitStatus();
  }

  /** `bosun-running`: the node that runs it. */
  runsOn(id: string, node: string): void {
    const running = this.#running.get(id);
    if (running !== undefined) running.node = node;
  }

  /** BullMQ `completed` / `failed`, or a lost run: its slot is free. Returns false when it was not running. */
  finished(id: string, error?: unknown): boolean {
    if (!this.#running.delete(id)) return false;
    if (this.#relay.listening('finished')) this.#relay.emit('finished', error === undefined ? { id } : { id, error });
    this.#emitStatus();
    return true;
  }

  /**
   * `bosun-left` (or BullMQ `removed`): a waiting run left without starting. `byThisNode`: whether
   * this node took it out (undefined when the event does not say, as BullMQ's `removed`).
   */
  left(id: string, reason: QueueLeaveReason, byThisNode?: boolean): void {
    const index = this.#waiting.findIndex((run) => run.id === id);
    if (index === -1) return;
    const [run] = this.#waiting.splice(index, 1) as [LineRun];
    this.#deadlines.delete(run, run.queuedAt + this.#queueTimeoutMs);
    if (this.#relay.listening('left')) {
      this.#relay.emit('left', { id, reason, waitedMs: Math.max(0, this.#now() - run.queuedAt), ...leftBy(byThisNode) });
    }
    this.#emitMoved(this.#positionsFrom(index));
    this.#emitStatus();
  }

  setPaused(paused: boolean): void {
    if (paused === this.#paused) return;
    this.#paused = paused;
    this.#emitStatus();
  }

  setMaxConcurrency(limit: number): void {
    if (limit === this.#maxConcurrency) return;
    this.#maxConcurrency = limit;
    this.#emitStatus();
  }

  /**
   * Takes the state read from Redis at one instant (after a reconnection that lost events, or Redis's
   * own data). Runs that appear are announced (`enqueued`, `started`); runs that vanished from the line
   * are dropped without a `left` (they were not seen leaving: Redis lost them, and the service puts them
   * back from the database); positions that changed are announced.
   */
  replace(waiting: readonly LineRun[], running: ReadonlyArray<{ id: string; node: string | undefined }>, keepRunning: ReadonlySet<string>): void {
    const before = new Map(this.#waiting.map((run, index) => [run.id, { position: index + 1, queuedAt: run.queuedAt }]));
    const wasRunning = new Set(this.#running.keys());
    this.#deadlines.clear();
    this.#waiting = [...waiting];
    for (const run of this.#waiting) this.#deadlines.add(run, run.queuedAt + this.#queueTimeoutMs);
    const nowRunning = new Map(running.map((run) => [run.id, { id: run.id, node: run.node }]));
    // Tasks of this node go on whatever Redis says: their slot is taken until they settle.
    for (const id of keepRunning) if (!nowRunning.has(id)) nowRunning.set(id, this.#running.get(id) ?? { id, node: undefined });
    this.#running.clear();
    for (const [id, run] of nowRunning) this.#running.set(id, run);
    const now = this.#now();
    for (const [id] of nowRunning) {
      if (!wasRunning.has(id) && this.#relay.listening('started')) {
        const queuedAt = before.get(id)?.queuedAt;
        this.#relay.emit('started', { id, waitedMs: queuedAt === undefined ? 0 : Math.max(0, now - queuedAt) });
      }
    }
    for (const id of wasRunning) if (!nowRunning.has(id)) this.#relay.emit('finished', { id });
    this.#waiting.forEach((run, index) => {
      const old = before.get(run.id)?.position;
      if (old === undefined) {
        if (this.#relay.listening('enqueued')) this.#relay.emit('enqueued', { id: run.id, position: index + 1, queuedAt: new Date(run.queuedAt) });
      } else if (old !== index + 1 && this.#relay.listening('position-changed')) {
        this.#relay.emit('position-changed', { id: run.id, position: index + 1 });
      }
    });
    this.#emitStatus();
  }

  /** Forgets everything and stops the deadline timers (close). */
  clear(): void {
    this.#deadlines.clear();
    this.#waiting = [];
    this.#running.clear();
    this.#admitted.clear();
  }

  /** The positions of the waiting runs from `index` on (they moved), when anyone listens. */
  #positionsFrom(index: number): Array<{ id: string; position: number }> {
    if (!this.#relay.listening('position-changed')) return [];
    return this.#waiting.slice(index).map((run, offset) => ({ id: run.id, position: index + offset + 1 }));
  }

  #emitMoved(moved: ReadonlyArray<{ id: string; position: number }>): void {
    for (const event of moved) this.#relay.emit('position-changed', event);
  }

  #emitStatus(): void {
    if (this.#relay.listening('status')) this.#relay.emit('status', this.stats());
  }
}

/** The `left` event's `byThisNode`, present only when known. */
function leftBy(byThisNode: boolean | undefined): { byThisNode?: boolean } {
  return byThisNode === undefined ? {} : { byThisNode };
}
