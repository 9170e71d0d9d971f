/**
 * Where a bosun node keeps its state and its line: the stores, the store's health and the
 * execution queue. The composition root (app.ts) builds everything else on top of one
 * {@link AppBackends}, whichever kind it is:
 * - embedded (the default, {@link createEmbeddedBackends}): SQLite beside the process and the
 *   in-process p-queue, built synchronously as bosun always built them;
 * - cluster (src/cluster-backends.ts): PostgreSQL and BullMQ on Redis, opened
 *   asynchronously by main.ts before the app is built, because both must answer first.
 */
import type { EventEmitter } from 'node:events';
import type { ClusterNode, ClusterNodeOptions } from './cluster/cluster-node.js';
import type { BosunConfig, ClusterConfig } from './config.js';
import type { Logger } from './logger.js';
import type { MonitorHistory } from './monitor/monitor-history.js';
import { AgentExecutionQueue } from './queue/agent-execution-queue.js';
import type { ClusterQueueEvents } from './queue/bullmq-execution-queue.js';
import type { ExecutionQueue, QueueTaskHandler } from './queue/execution-queue.js';
import type { ArtifactStore } from './runs/artifact-store.js';
import type { RunStore } from './runs/run-store.js';
import { openDatabase, type SqliteDatabase } from './store/database.js';
import { loadOrCreateInstanceId } from './store/instance-id.js';
import type { RunRetentionOptions } from './store/run-retention.js';
import { artifactDirFor, SqliteArtifactStore } from './store/sqlite-artifact-store.js';
import { SqliteHistoryStore } from './store/sqlite-history-store.js';
import { SqliteRunStore } from './store/sqlite-run-store.js';
import { StoreHealth } from './store/store-health.js';

/** An emitter's cluster-wide view (RedisEventBridge): this node's events and every other node's. */
export interface BridgedEvents<E extends Record<keyof E, unknown[]>> {
  readonly events: EventEmitter<E>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** What only a cluster node has, for the composition root to wire (types only: nothing of it loads embedded). */
export interface ClusterHooks {
  /** This node's name (BOSUN_NODE_NAME), recorded on the runs it takes (`AgentRun.node`). */
  readonly nodeName: string;
  /** The shared queue's `lost` and `reset`. */
  readonly clusterEvents: EventEmitter<ClusterQueueEvents>;
  /** Puts back QUEUED runs that Redis does not have, in the given order. */
  restoreWaiting(runs: ReadonlyArray<{ readonly id: string; readonly queuedAt: Date }>): Promise<number>;
  /** Runs `fn` while this node holds the cluster-wide lock `name` (a PostgreSQL advisory lock). */
  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Bridges `names` of `emitter` through Redis pub/sub on `channel`: its view shows every node's. */
  bridge<E extends Record<keyof E, unknown[]>>(channel: string, emitter: EventEmitter<E>, names: readonly (keyof E & string)[]): BridgedEvents<E>;
  /**
   * Lets the queue's worker run what it takes: until then (between open and app.start()) a job taken
   * waits, so that no run starts before this node's orphans are reaped and its runs recovered.
   */
  startTasks(handler: QueueTaskHandler): void;
  /**
   * This node's membership (roll, lease sweep, forwarding), built once the run service and the
   * external run service exist; the backends fill in what the config and the database say.
   */
  createNode(
    options: Omit<ClusterNodeOptions, 'name' | 'instanceId' | 'url' | 'capacity' | 'leaseMs' | 'store' | 'storeHealth' | 'exclusive' | 'apiToken'>,
  ): ClusterNode;
}

/**
 * THIS node's share of the line: what its engine guard and its shutdown pause, and what its
 * autoscaler moves (its advice is about this node's own containers). Embedded, the queue is the
 * node's own and this is the queue itself. In a cluster, pausing the shared line or moving its
 * limit would act on every node: only this node's worker is paused, and only its own cap moves.
 */
export interface NodeQueue extends Pick<ExecutionQueue, 'pause' | 'resume'> {
  /**
   * This node's concurrency cap (0 = none). Embedded: the queue's limit (MAX_CONCURRENT_AGENTS).
   * Cluster: this node's own cap (NODE_MAX_CONCURRENT_AGENTS, or what the autoscaler made of it),
   * under the cluster-wide limit that `queue.stats().maxConcurrency` (queueStatus) reports.
   */
  maxConcurrency(): number;
  /**
   * Moves {@link maxConcurrency}. Cluster: from 1 to NODE_MAX_CONCURRENT_AGENTS, never above it.
   * @throws InvalidValueError (as a rejection) for a value out of range.
   */
  setMaxConcurrency(value: number): Promise<void>;
}

/** A config that asks for cluster mode. */
export type ClusterConfigFor = BosunConfig & { readonly cluster: ClusterConfig };

/** What one {@link AppBackends.prune} round removed. */
export interface PruneResult {
  readonly runs: number;
  /** Runs whose artifacts were removed. */
  readonly artifactRuns: number;
}

export interface AppBackends {
  readonly kind: 'embedded' | 'cluster';
  /** Labels this node's containers, so that a restart reaps what it left and never another's. */
  readonly instanceId: string;
  /** The SQLite database (embedded mode only). */
  readonly db: SqliteDatabase | undefined;
  readonly storeHealth: StoreHealth;
  readonly runStore: RunStore;
  readonly history: MonitorHistory;
  readonly artifactStore: ArtifactStore & { prune(): Promise<number> };
  /** The line every run waits in: the process's (embedded) or the cluster's. */
  readonly queue: ExecutionQueue;
  /**
   * Stops / resumes THIS node taking runs (engine guard, a cluster node's fence, shutdown: through
   * the composition root's `PauseHolds`, never directly), and moves its own cap (autoscaler).
   */
  readonly nodeQueue: NodeQueue;
  /** The name of this node (`AgentRun.node`); null when embedded (see {@link createEmbeddedBackends}). */
  readonly nodeName: string | null;
  /** Set in cluster mode only. */
  readonly cluster?: ClusterHooks;
  /**
   * Drops old runs (and what belongs to them) and old samples, then the artifacts of every run that
   * is gone (pruned now or before a crash). In a cluster, one node at a time does all of it (the
   * others skip the round). Resolves with the runs dropped and the runs whose artifacts were removed.
   */
  prune(retention: RunRetentionOptions): Promise<PruneResult>;
  /**
   * Last of shutdown, after the queue closed: flushes the stores, then closes the database.
   * Resolves false when something that waited for the store could not be written.
   */
  close(): Promise<boolean>;
}

/**
 * SQLite and the in-process queue, as bosun builds them on one host. `runTask` is the run service's
 * handler: it is called only once a run is started, after app.start().
 * Embedded runs have no node name (`AgentRun.node` null): one host is the only node there is, and a
 * hostname recorded in the history would turn stale when the database moves with its host.
 * @throws DatabaseOpenError (one line naming the path) when the database cannot be used.
 */
export function createEmbeddedBackends(config: BosunConfig, options: { readonly logger: Logger; readonly runTask: QueueTaskHandler }): AppBackends {
  const db = openDatabase(config.dbPath);
  const instanceId = config.instanceId ?? loadOrCreateInstanceId(db);
  const storeHealth = new StoreHealth({ logger: options.logger.child({ component: 'store' }) });
  const runStore = new SqliteRunStore(db, { logLinesPerRun: config.logLinesPerRun, health: storeHealth });
  const history = new SqliteHistoryStore(db, {
    sampleRetentionMs: config.sampleRetentionMs,
    liveWindowMs: config.historyWindowMs,
    health: storeHealth,
  });
  const artifactStore = new SqliteArtifactStore(db, artifactDirFor(config.dbPath));
  const queue = new AgentExecutionQueue({
    runTask: options.runTask,
    maxConcurrency: config.maxConcurrentAgents,
    maxQueueLength: config.maxQueueLength,
    queueTimeoutMs: config.queueTimeoutMs,
  });
  return {
    kind: 'embedded',
    instanceId,
    db,
    storeHealth,
    runStore,
    history,
    artifactStore,
    queue,
    nodeQueue: {
      pause: () => queue.pause(),
      resume: () => queue.resume(),
      maxConcurrency: () => queue.stats().maxConcurrency,
      setMaxConcurrency: (value) => queue.setMaxConcurrency(value),
    },
    nodeName: null,
    async prune(retention) {
      // SQLite prunes runs and samples synchronously, as it always did; the artifacts' files after.
      const runs = runStore.prune(retention);
      history.prune();
      return { runs, artifactRuns: await artifactStore.prune() };
    },
    async close() {
      const written = (await Promise.all([runStore.flush(), history.flush()])).every(Boolean);
      db.close();
      artifactStore[Symbol.dispose]();
      return written;
    },
  };
}
