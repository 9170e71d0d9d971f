/**
 * The public surface of an execution queue, independent of the backend that implements it
 * (p-queue in one process today; a shared engine such as BullMQ later). Everything the API and
 * the monitor need goes through this: ids, positions, stats and one typed event source.
 */
import type { EventEmitter } from 'node:events';

export interface QueueStats {
  readonly running: number;
  readonly queued: number;
  /**
   * Runs at once in the whole line; 0 means unlimited. In a cluster, the cluster-wide limit
   * (MAX_CONCURRENT_AGENTS, setMaxConcurrency); each node also keeps a cap of its own under it
   * (NODE_MAX_CONCURRENT_AGENTS, which its autoscaler moves), not reported here.
   */
  readonly maxConcurrency: number;
  /** running / maxConcurrency × 100; 0 when unlimited. */
  readonly utilizationPercent: number;
  readonly paused: boolean;
}

/** running / maxConcurrency × 100; 0 when unlimited. Part of the surface, so every backend reports it alike. */
export function utilizationPercent(running: number, maxConcurrency: number): number {
  return maxConcurrency === 0 ? 0 : (running / maxConcurrency) * 100;
}

/** What `enqueue` replies: where the run stands right after it entered the line. */
export interface QueueTicket {
  /** 1 = next to start; 0 = started at once (not waiting). */
  readonly position: number;
  readonly running: number;
  readonly queued: number;
  readonly maxConcurrency: number;
}

/** Why a run left the line without starting. */
export type QueueLeaveReason = 'cancelled' | 'timed-out' | 'cleared';

/**
 * The queue's events: a closed union of names, each payload carrying the run's id.
 * `status` follows every change, after the per-run events of that change.
 */
export interface ExecutionQueueEvents {
  enqueued: [event: { readonly id: string; readonly position: number; readonly queuedAt: Date }];
  /** One event for every waiting run whose position changed. */
  'position-changed': [event: { readonly id: string; readonly position: number }];
  started: [event: { readonly id: string; readonly waitedMs: number }];
  /** A started run's task settled and its slot is free again. */
  finished: [event: { readonly id: string; readonly error?: unknown }];
  /**
   * A waiting run left the line without starting. `byThisNode` (cluster only): whether this node
   * took it out (its cancel, its queue timeout, its admission of a run already expired); every node
   * sees the event, and only that node records the run's end. Absent embedded (the process's own
   * line) and when unknown.
   */
  left: [event: { readonly id: string; readonly reason: QueueLeaveReason; readonly waitedMs: number; readonly byThisNode?: boolean }];
  status: [stats: QueueStats];
}

export type ExecutionQueueEventName = keyof ExecutionQueueEvents;

/**
 * The work of a run, given once to the queue when it is built (not with each run: in a cluster,
 * the node that starts a run is not the node that enqueued it). It receives the run's id and a
 * signal that aborts when the queue shuts down, and settles when the run's work is over.
 */
export type QueueTaskHandler = (id: string, signal: AbortSignal) => Promise<void>;

export interface EnqueueOptions {
  /** When the run first entered a line (kept across restarts); the queue timeout counts from it. Default: now. */
  readonly queuedAt?: Date;
}

/**
 * What changes the line is asynchronous (a shared backend answers over the network); what reads
 * it is synchronous, answered from the queue's own state (a cluster backend keeps a local mirror
 * of the shared queue, current from its events).
 */
export interface ExecutionQueue {
  readonly events: EventEmitter<ExecutionQueueEvents>;
  /**
   * Puts a run in line, or starts it (the queue's {@link QueueTaskHandler}) when a slot is free.
   * @throws BosunError QUEUE_FULL when the line is at its maximum length; INVALID_STATE for a duplicate id (as rejections).
   */
  enqueue(id: string, options?: EnqueueOptions): Promise<QueueTicket>;
  /** Throws what `enqueue` would throw for a new run now (QUEUE_FULL, SHUTTING_DOWN), so a caller can refuse before recording it. */
  assertAdmits(): void;
  /** Takes a waiting run out of the line. Resolves false when it is not waiting. */
  cancel(id: string): Promise<boolean>;
  /** 1 = next to start; 0 = not waiting. */
  position(id: string): number;
  /** The ids of waiting runs, next to start first. */
  waitingIds(): readonly string[];
  isRunning(id: string): boolean;
  stats(): QueueStats;
  /** 0 = unlimited. Raising starts waiting runs at once; lowering lets running runs finish. */
  setMaxConcurrency(value: number): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Resolves when nothing runs and nothing waits. */
  onIdle(): Promise<void>;
  /** Stops starting runs, drops the waiting ones (event `left`, reason `cleared`) and aborts running tasks' signals. */
  close(): Promise<void>;
}
