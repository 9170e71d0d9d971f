/**
 * The cluster queue's faults, split from {@link BullMqExecutionQueue} (moved as they were): a
 * running run whose node stopped renewing its lease (`lost`, claimed by exactly one node), and a
 * Redis that came back without its data (`reset`), with the events that tell the app of them.
 */
import type { EventEmitter } from 'node:events';
import { BosunError } from '../errors.js';
import type { NodeWorker } from './bullmq-node-worker.js';
import type { QueueScripts } from './bullmq-scripts.js';
import type { ResetScripts } from './bullmq-reset-scripts.js';
import type { ClusterLine } from './cluster-line.js';

/** What only a cluster has, apart from the queue's own events (the ExecutionQueue surface stays as it is). */
export interface ClusterQueueEvents {
  /**
   * A running run whose node stopped renewing its lease (it died, or stalled past the lease); its
   * `finished` follows. Emitted on every node; `claimed` is true on exactly one, which should record
   * the run as interrupted, naming the node.
   */
  lost: [event: { readonly id: string; readonly node: string; readonly claimed: boolean }];
  /**
   * Redis came back without its data: the line this node shows is what Redis has now, and the QUEUED
   * runs of the database should be put back with `restoreWaiting` (from any node: one restores at a
   * time and runs already back are skipped). Emitted on every node.
   */
  reset: [];
}

export interface ClusterFaultsOptions {
  /** This node's mirror of the line. */
  readonly line: ClusterLine;
  readonly worker: NodeWorker;
  /** The queue's `clusterEvents`, where `lost` and `reset` are emitted. */
  readonly clusterEvents: EventEmitter<ClusterQueueEvents>;
  /** Pauses the cluster's line (BullMQ's queue pause). */
  readonly pauseQueue: () => Promise<void>;
  /** The scripts that put the runs still running back after a data loss, on the reader's connection. */
  readonly reset: ResetScripts;
  /** The ids of the runs the database has RUNNING (on any node), to hold their slots; absent, none are held. */
  readonly runningRuns?: () => Promise<readonly string[]>;
  /** How long a held slot waits for its node to take it over (the lease). */
  readonly holdMs: number;
  readonly now: () => number;
  readonly report: (error: unknown) => void;
}

/** What a node does when the cluster loses a run or Redis loses its data (see the file's comment). */
export class ClusterFaults {
  readonly #options: ClusterFaultsOptions;

  constructor(options: ClusterFaultsOptions) {
    this.#options = options;
  }

  /**
   * Redis came back without its data, the cluster's limit and pause with it: the first node back sets
   * them again, and holds a slot for each run the database has RUNNING, before any run is admitted
   * (see bullmq-reset-scripts.ts). This node's running tasks go back in Redis as running jobs; one
   * that cannot frees its slot itself when it settles.
   */
  async dataLost(scripts: QueueScripts): Promise<void> {
    const { worker, line, reset } = this.#options;
    // First, before any wait: a task that settles from now on is not in Redis to free its slot.
    worker.orphanAll();
    await scripts.setLimit(line.maxConcurrency, true);
    await reset.hold(await this.#runningRuns(), this.#options.holdMs, this.#options.now());
    await worker.adoptAll(reset);
    if (line.paused) await this.#options.pauseQueue().catch((error: unknown) => this.#options.report(error));
  }

  /** The runs the database has RUNNING; none when it cannot say (their nodes still put their own back). */
  async #runningRuns(): Promise<readonly string[]> {
    try {
      return (await this.#options.runningRuns?.()) ?? [];
    } catch (error) {
      this.#options.report(error);
      return [];
    }
  }

  /**
   * At start, before this node admits anything: a data set no node has settled (a cluster's first
   * start, or Redis lost its data and this node came up before the others found it) gets the slots
   * of the runs the database has RUNNING held, as {@link dataLost} holds them. On a cluster's first
   * start those are a dead cluster's runs: their holds lapse after a lease. Settled already, nothing.
   */
  async settle(): Promise<void> {
    await this.#options.reset.hold(await this.#runningRuns(), this.#options.holdMs, this.#options.now());
  }

  /** A running job's lock lapsed: its node stopped (or stalled past the lease). */
  async lost(id: string, scripts: QueueScripts): Promise<void> {
    if (!this.#options.line.isRunning(id)) return;
    // A held slot that lapsed is no node's lost run (its node never took it over: it died, or the
    // run ended); a node's own run is never stopped for it.
    if (await this.#options.reset.isHold(id).catch(() => false)) return;
    const { claimed, node: recorded } = await scripts.claimLost(id).catch((error: unknown) => {
      this.#options.report(error);
      return { claimed: false, node: undefined };
    });
    const node = this.#options.line.nodeOf(id) ?? recorded ?? 'an unknown node';
    const error = new BosunError('INVALID_STATE', `Run ${id} was lost: node ${node} stopped renewing its lease`);
    // This node is alive but lost the lease (a long stall): the cluster counts the run as lost, so stop it.
    this.#options.worker.abort(id, error);
    this.emit('lost', { id, node, claimed });
    this.#options.line.finished(id, error);
  }

  /** A listener's error never reaches the stream follower: it is rethrown on the next tick, as the queue's events do. */
  emit<K extends keyof ClusterQueueEvents>(name: K, ...args: ClusterQueueEvents[K]): void {
    try {
      (this.#options.clusterEvents.emit as (name: K, ...args: ClusterQueueEvents[K]) => boolean)(name, ...args);
    } catch (error) {
      process.nextTick(() => {
        throw error;
      });
    }
  }
}
