/**
 * An in-memory ExecutionQueue that keeps ids in line but runs no tasks: tests move runs along
 * with {@link FakeExecutionQueue.startNext} and {@link FakeExecutionQueue.finish}. Events follow
 * the interface's order: per-run events first, `status` last.
 */
import { EventEmitter } from 'node:events';
import { BosunError } from '../../src/errors.js';
import type { ExecutionQueue, ExecutionQueueEvents, QueueStats, QueueTicket } from '../../src/queue/execution-queue.js';
import { utilizationPercent } from '../../src/queue/execution-queue.js';
import { settle } from './fake-async.js';

export class FakeExecutionQueue implements ExecutionQueue {
  readonly events = new EventEmitter<ExecutionQueueEvents>();
  readonly #waiting: string[] = [];
  readonly #running = new Set<string>();
  readonly #enqueuedAt = new Map<string, number>();
  #maxConcurrency: number;
  #paused = false;

  constructor(options: { maxConcurrency?: number } = {}) {
    // As the real queue: every subscription listens here.
    this.events.setMaxListeners(0);
    this.#maxConcurrency = options.maxConcurrency ?? 1;
  }

  assertAdmits(): void {
    // The fake's line has no length limit.
  }

  enqueue(id: string): Promise<QueueTicket> {
    return settle(() => this.enqueueNow(id));
  }

  /** {@link enqueue}, synchronously (for the fake run service). */
  enqueueNow(id: string): QueueTicket {
    if (this.#running.has(id) || this.#waiting.includes(id)) throw new BosunError('INVALID_STATE', `duplicate id ${id}`);
    this.#enqueuedAt.set(id, Date.now());
    if (!this.#paused && this.#hasFreeSlot()) {
      this.#running.add(id);
      this.events.emit('started', { id, waitedMs: 0 });
      this.#emitStatus();
      return this.#ticket(0);
    }
    this.#waiting.push(id);
    const position = this.#waiting.length;
    this.events.emit('enqueued', { id, position, queuedAt: new Date() });
    this.#emitStatus();
    return this.#ticket(position);
  }

  cancel(id: string): Promise<boolean> {
    return settle(() => this.cancelNow(id));
  }

  /** {@link cancel}, synchronously (for the fake run service). */
  cancelNow(id: string): boolean {
    const index = this.#waiting.indexOf(id);
    if (index < 0) return false;
    this.#waiting.splice(index, 1);
    this.events.emit('left', { id, reason: 'cancelled', waitedMs: this.#waited(id) });
    this.#emitPositionsFrom(index);
    this.#emitStatus();
    return true;
  }

  position(id: string): number {
    return this.#waiting.indexOf(id) + 1;
  }

  waitingIds(): readonly string[] {
    return [...this.#waiting];
  }

  isRunning(id: string): boolean {
    return this.#running.has(id);
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

  setMaxConcurrency(value: number): Promise<void> {
    return settle(() => {
      this.#maxConcurrency = value;
      this.#emitStatus();
    });
  }

  pause(): Promise<void> {
    return settle(() => {
      this.#paused = true;
      this.#emitStatus();
    });
  }

  resume(): Promise<void> {
    return settle(() => {
      this.#paused = false;
      this.#emitStatus();
    });
  }

  async onIdle(): Promise<void> {}

  close(): Promise<void> {
    return settle(() => {
      for (const id of this.#waiting.splice(0)) this.events.emit('left', { id, reason: 'cleared', waitedMs: this.#waited(id) });
      this.#emitStatus();
    });
  }

  // Test drivers.

  /** Starts the first waiting run (whatever the limit); returns its id. */
  startNext(): string {
    const id = this.#waiting.shift();
    if (id === undefined) throw new Error('FakeExecutionQueue: nothing is waiting');
    this.#running.add(id);
    this.events.emit('started', { id, waitedMs: this.#waited(id) });
    this.#emitPositionsFrom(0);
    this.#emitStatus();
    return id;
  }

  /** A running run's task settled. */
  finish(id: string): void {
    if (!this.#running.delete(id)) return;
    this.events.emit('finished', { id });
    this.#emitStatus();
  }

  /** Total listeners on the queue's events. */
  listenerTotal(): number {
    return this.events.eventNames().reduce((sum, name) => sum + this.events.listenerCount(name), 0);
  }

  #hasFreeSlot(): boolean {
    return this.#maxConcurrency === 0 || this.#running.size < this.#maxConcurrency;
  }

  #ticket(position: number): QueueTicket {
    const { running, queued, maxConcurrency } = this.stats();
    return { position, running, queued, maxConcurrency };
  }

  #waited(id: string): number {
    return Date.now() - (this.#enqueuedAt.get(id) ?? Date.now());
  }

  #emitPositionsFrom(index: number): void {
    this.#waiting.slice(index).forEach((id, offset) => {
      this.events.emit('position-changed', { id, position: index + offset + 1 });
    });
  }

  #emitStatus(): void {
    this.events.emit('status', this.stats());
  }
}
