/**
 * Follows one BullMQ queue's events stream for a node: reads it in order on a connection of its own
 * (XREAD BLOCK) and applies each event to the node's {@link ClusterLine}. A job of its own, apart from
 * the queue's operations:
 * - Read-your-writes: an operation that knows the stream id of its own event waits with
 *   {@link QueueStreamFollower.caughtUp} until this node has applied it, so its events are out before
 *   it resolves, as with the in-process queue.
 * - A reconnection after a blip reads on from the last id: no event is lost. A Redis that came back
 *   without its data has a new epoch: the follower reloads the line from a snapshot instead.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { STREAM_EVENT, type QueueKeySet, type QueueScripts, type Snapshot } from './bullmq-scripts.js';
import type { ClusterLine } from './cluster-line.js';

export interface StreamFollowerHooks {
  /** A running job was put back by BullMQ's stalled check: its node stopped renewing its lock. */
  readonly onStalled: (id: string) => Promise<void>;
  /** The error to report for a job that failed (this node's own error when it ran it). */
  readonly failure: (id: string, reason: string | undefined) => unknown;
  /** The job completed or failed: this node may forget what it kept for it. */
  readonly onSettled: (id: string) => void;
  /** Redis came back without its data; called before the line is reloaded. */
  readonly onDataLost: () => Promise<void>;
  /** The line was reloaded after Redis lost its data. */
  readonly onReloaded: () => void;
  /** Ids of the tasks running on this node (they hold their slot whatever Redis says). */
  readonly localTasks: () => ReadonlySet<string>;
  /** This node's name: a leave (or an expired admission) naming it was this node's own. */
  readonly nodeName: string;
  readonly onError: (error: unknown) => void;
}

/** Events read per XREAD, and how long one read blocks. */
const READ_COUNT = 500;
const READ_BLOCK_MS = 2_000;
/** A pause after a failed read keeps a dead Redis from spinning the loop. */
const RETRY_DELAY_MS = 200;

export class QueueStreamFollower {
  readonly #reader: Redis;
  readonly #scripts: QueueScripts;
  readonly #keys: QueueKeySet;
  readonly #line: ClusterLine;
  readonly #hooks: StreamFollowerHooks;
  readonly #stopped = new AbortController();
  #loop: Promise<void> | undefined;
  #lastEventId = '0-0';
  #epoch = '';
  #resyncNeeded = false;
  /** Checked after each event applied: resolved once their test holds. */
  readonly #waiters = new Set<{ test: () => boolean; resolve: () => void }>();

  constructor(reader: Redis, scripts: QueueScripts, keys: QueueKeySet, line: ClusterLine, hooks: StreamFollowerHooks) {
    this.#reader = reader;
    this.#scripts = scripts;
    this.#keys = keys;
    this.#line = line;
    this.#hooks = hooks;
    // Each reconnection may follow a Redis that lost its data: the epoch is checked before reading on.
    reader.on('ready', () => {
      this.#resyncNeeded = true;
    });
  }

  /** Loads the line from Redis and starts following the stream from that instant. */
  async start(): Promise<void> {
    const snapshot = await this.#scripts.snapshot(randomUUID());
    this.#epoch = snapshot.epoch;
    this.#take(snapshot);
    // Settled at start (ClusterFaults.settle) unless Redis lost its data since: then resynced at once.
    this.#resyncNeeded = !snapshot.settled;
    this.#loop = this.#read();
  }

  /** Stops reading and disconnects the reader; resolves every waiter. */
  async stop(): Promise<void> {
    this.#stopped.abort();
    this.#reader.disconnect();
    await this.#loop;
    for (const waiter of this.#waiters) waiter.resolve();
  }

  /** Resolves once this node has applied the stream up to `eventId` (or after `timeoutMs`). */
  caughtUp(eventId: string, timeoutMs: number): Promise<void> {
    return this.settled(() => compareEventIds(this.#lastEventId, eventId) >= 0, timeoutMs);
  }

  /** Resolves once `test` holds after an applied event (at once if it holds now), or after `timeoutMs`. */
  settled(test: () => boolean, timeoutMs: number): Promise<void> {
    if (test() || this.#stopped.signal.aborted) return Promise.resolve();
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

  /** Compares the epoch with Redis's before the next read (it may have lost its data without a reconnection). */
  resyncSoon(): void {
    this.#resyncNeeded = true;
  }

  /** Wakes the waiters whose test holds now (after a change made outside the stream). */
  recheck(): void {
    for (const waiter of this.#waiters) if (waiter.test()) waiter.resolve();
  }

  async #read(): Promise<void> {
    while (!this.#stopped.signal.aborted) {
      try {
        if (this.#resyncNeeded) await this.#resync();
        const reply = await this.#reader.xread('COUNT', READ_COUNT, 'BLOCK', READ_BLOCK_MS, 'STREAMS', this.#keys.events, this.#lastEventId);
        if (reply === null) continue;
        for (const [, entries] of reply) {
          for (const [entryId, fields] of entries) {
            this.#lastEventId = entryId;
            await this.#apply(toRecord(fields));
            this.recheck();
          }
        }
      } catch (error) {
        if (this.#stopped.signal.aborted) return;
        this.#hooks.onError(error);
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS).unref());
      }
    }
  }

  async #resync(): Promise<void> {
    const snapshot = await this.#scripts.snapshot(randomUUID());
    this.#resyncNeeded = false;
    // A data set nobody settled is a lost one, even under the epoch this node knows (it may have
    // been this node's own first snapshot of it).
    if (snapshot.epoch === this.#epoch && snapshot.settled) {
      // Events this node missed while away were trimmed from the stream: reading on would skip them.
      if (compareEventIds(this.#lastEventId, snapshot.firstEventId) < 0) {
        this.#take(snapshot);
        this.recheck();
      }
      return;
    }
    await this.#hooks.onDataLost();
    this.#epoch = snapshot.epoch;
    this.#take(snapshot);
    this.recheck();
    this.#hooks.onReloaded();
  }

  #take(snapshot: Snapshot): void {
    this.#lastEventId = snapshot.lastEventId;
    this.#line.replace(snapshot.waiting, snapshot.running, this.#hooks.localTasks());
    this.#line.setPaused(snapshot.paused);
    if (snapshot.limit !== undefined) this.#line.setMaxConcurrency(snapshot.limit);
  }

  async #apply(fields: Record<string, string>): Promise<void> {
    const id = fields.jobId ?? '';
    switch (fields.event) {
      case STREAM_EVENT.admitted:
        this.#line.admitted(id, Number(fields.queuedAt), fields.front === '1');
        break;
      case STREAM_EVENT.expired:
        this.#line.expired(id, Number(fields.queuedAt), this.#byThisNode(fields));
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
        this.#line.finished(id);
        this.#hooks.onSettled(id);
        break;
      case 'failed':
        this.#line.finished(id, this.#hooks.failure(id, fields.failedReason));
        this.#hooks.onSettled(id);
        break;
      case STREAM_EVENT.left:
        this.#line.left(id, fields.reason === 'timed-out' ? 'timed-out' : 'cancelled', this.#byThisNode(fields));
        break;
      case 'removed':
        // Taken out with BullMQ's own API (an operator's tool): a cancel as far as the line goes.
        this.#line.left(id, 'cancelled');
        break;
      case 'stalled':
        await this.#hooks.onStalled(id);
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
      case STREAM_EVENT.reset:
        // Redis lost its data (a FLUSHALL reconnects nobody): resynced before the next read.
        this.#resyncNeeded = true;
        break;
      default:
        break;
    }
  }

  /** Whether this node wrote the event; undefined when it names no node (written by an older bosun). */
  #byThisNode(fields: Record<string, string>): boolean | undefined {
    return fields.node === undefined ? undefined : fields.node === this.#hooks.nodeName;
  }

  /** The queue time of a job whose admission this node did not see (added by another tool). */
  async #queuedAtOf(id: string): Promise<number> {
    const stamp = await this.#reader.hget(`${this.#keys.jobPrefix}${id}`, 'timestamp').catch(() => null);
    return stamp === null ? Date.now() : Number(stamp);
  }
}

function toRecord(fields: readonly string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let index = 0; index + 1 < fields.length; index += 2) record[fields[index]!] = fields[index + 1]!;
  return record;
}

/** Orders two stream ids (`<ms>-<seq>`). */
export function compareEventIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs === bMs ? aSeq - bSeq : aMs - bMs;
}
