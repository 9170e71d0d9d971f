/**
 * The asynchronous ExecutionQueue of /work/shared/ASYNC-CONTRACT.md (issue #17, step 1), as a file of
 * its own on this branch: src/queue/execution-queue.ts becomes exactly this on the branch that makes
 * the interfaces asynchronous, and that version wins at merge (then this file goes and the imports
 * point at execution-queue.js).
 *
 * A task is no longer a closure given to enqueue: in a cluster the node that starts a run is not the
 * node that enqueued it, so the queue is built with one handler that runs any run by its id.
 */
import type { EventEmitter } from 'node:events';
import type { EnqueueOptions, ExecutionQueueEvents, QueueStats, QueueTicket } from './execution-queue.js';

/** Runs one run on this node; the signal aborts when the queue closes. */
export type QueueTaskHandler = (id: string, signal: AbortSignal) => Promise<void>;

export interface AsyncExecutionQueue {
  readonly events: EventEmitter<ExecutionQueueEvents>;
  enqueue(id: string, options?: EnqueueOptions): Promise<QueueTicket>;
  cancel(id: string): Promise<boolean>;
  setMaxConcurrency(value: number): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
  // Unchanged and synchronous: a cluster backend answers them from a local mirror it keeps current
  // from the shared queue's events.
  assertAdmits(): void;
  position(id: string): number;
  waitingIds(): readonly string[];
  isRunning(id: string): boolean;
  stats(): QueueStats;
  onIdle(): Promise<void>;
}
