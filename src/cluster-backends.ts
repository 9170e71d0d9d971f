/**
 * A cluster node's backends (issue #17): PostgreSQL for the history every node shares, BullMQ on
 * Redis for the one line, and Redis pub/sub for the events subscriptions see. Opened by main.ts
 * before the app is built (both servers must answer first), handed to createApp as its
 * {@link AppBackends}; only this module loads the cluster's libraries, so an embedded bosun never
 * does.
 */
import type { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { AppBackends, ClusterConfigFor } from './app-backends.js';
import { BosunError, errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import { BullMqExecutionQueue } from './queue/bullmq-execution-queue.js';
import type { QueueTaskHandler } from './queue/execution-queue.js';
import { PostgresDatabase } from './store/postgres/pg-database.js';
import { PostgresArtifactStore } from './store/postgres/postgres-artifact-store.js';
import { PostgresHistoryStore } from './store/postgres/postgres-history-store.js';
import { PostgresRunStore } from './store/postgres/postgres-run-store.js';
import { StoreHealth } from './store/store-health.js';
import { ClusterNode } from './cluster/cluster-node.js';
import { RedisEventBridge } from './cluster/redis-event-bridge.js';
import { PgNodeRegistry } from './store/postgres/pg-node-registry.js';

/** What start-up reports when a cluster server does not answer; one line, no URL (it may hold a password). */
export class ClusterOpenError extends BosunError {
  constructor(what: 'PostgreSQL' | 'Redis', cause: unknown) {
    const variable = what === 'Redis' ? 'REDIS_URL' : 'BOSUN_DB_URL';
    super('UNAVAILABLE', `cannot reach ${what} (${variable}): ${errorMessage(cause).replaceAll(/\s+/g, ' ')}`, { cause });
  }
}

/**
 * Opens PostgreSQL (migrating it), then the cluster queue, then the event connections.
 * This node's instance id (the label of its containers) is BOSUN_INSTANCE_ID, else derived from its
 * node name: stable across restarts, so a node that comes back reaps what it left.
 * @throws ClusterOpenError naming the server that cannot be reached; whatever was opened is closed.
 */
export async function openClusterBackends(config: ClusterConfigFor, options: { readonly logger: Logger }): Promise<AppBackends> {
  const { cluster } = config;
  const logger = options.logger;
  let database: PostgresDatabase;
  try {
    database = await PostgresDatabase.open({ url: cluster.databaseUrl, logger: logger.child({ component: 'database' }) });
  } catch (error) {
    throw new ClusterOpenError('PostgreSQL', error);
  }
  const storeHealth = new StoreHealth({ logger: logger.child({ component: 'store' }) });
  const runStore = new PostgresRunStore(database, { logLinesPerRun: config.logLinesPerRun, health: storeHealth });
  const history = new PostgresHistoryStore(database, {
    sampleRetentionMs: config.sampleRetentionMs,
    liveWindowMs: config.historyWindowMs,
    health: storeHealth,
  });
  const artifactStore = new PostgresArtifactStore(database);
  // Jobs the worker takes before app.start() wait here: nothing starts before the node's orphans are reaped.
  let startTasks: (handler: QueueTaskHandler) => void = () => undefined;
  const handler = new Promise<QueueTaskHandler>((resolve) => (startTasks = resolve));
  const queueLogger = logger.child({ component: 'queue' });
  let queue: BullMqExecutionQueue;
  try {
    queue = await BullMqExecutionQueue.open({
      redisUrl: cluster.redisUrl,
      nodeName: cluster.nodeName,
      nodeMaxConcurrency: cluster.nodeMaxConcurrentAgents,
      maxConcurrency: config.maxConcurrentAgents,
      maxQueueLength: config.maxQueueLength,
      queueTimeoutMs: config.queueTimeoutMs,
      leaseMs: cluster.nodeLeaseMs,
      runTask: async (id, signal) => (await untilStarted(handler, signal))(id, signal),
      // PostgreSQL is the truth of what runs: after Redis lost its data, their slots are held.
      runningRuns: async () => (await runStore.unfinished()).filter((run) => run.status === 'RUNNING').map((run) => run.id),
      onError: (error) => queueLogger.warn({ err: error }, `cluster queue: ${errorMessage(error)}`),
    });
  } catch (error) {
    await database.close();
    throw new ClusterOpenError('Redis', error);
  }
  const onRedisError = (error: Error): void => logger.warn({ err: error }, `cluster events: ${errorMessage(error)}`);
  const publisher = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
  const subscriber = new Redis(cluster.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
  publisher.on('error', onRedisError);
  subscriber.on('error', onRedisError);
  try {
    // Ready before the bridges subscribe: a SUBSCRIBE sent while connecting breaks ioredis's ready check.
    await Promise.all([publisher.connect(), subscriber.connect()]);
  } catch (error) {
    publisher.disconnect();
    subscriber.disconnect();
    await queue.close();
    await database.close();
    throw new ClusterOpenError('Redis', error);
  }
  const instanceId = config.instanceId ?? `node-${cluster.nodeName.replaceAll(/[^A-Za-z0-9_.-]/g, '_')}`;
  const bridges: { close(): Promise<void> }[] = [];
  const bridgeLogger = logger.child({ component: 'cluster-events' });

  return {
    kind: 'cluster',
    instanceId,
    db: undefined,
    storeHealth,
    runStore,
    history,
    artifactStore,
    queue,
    nodeQueue: queue.node,
    nodeName: cluster.nodeName,
    cluster: {
      nodeName: cluster.nodeName,
      clusterEvents: queue.clusterEvents,
      restoreWaiting: (runs) => queue.restoreWaiting(runs),
      exclusive: (name, fn) => database.withAdvisoryLock(name, fn),
      bridge<E extends Record<keyof E, unknown[]>>(channel: string, emitter: EventEmitter<E>, names: readonly (keyof E & string)[]) {
        const bridge = new RedisEventBridge<E>({
          emitter,
          names,
          channel: `bosun:events:${channel}`,
          nodeId: instanceId,
          publisher,
          subscriber,
          logger: bridgeLogger,
        });
        bridges.push(bridge);
        return bridge;
      },
      startTasks: (run) => startTasks(run),
      createNode: (wiring) =>
        new ClusterNode({
          ...wiring,
          name: cluster.nodeName,
          instanceId,
          url: cluster.nodeUrl ?? null,
          capacity: cluster.nodeMaxConcurrentAgents,
          leaseMs: cluster.nodeLeaseMs,
          store: new PgNodeRegistry(database),
          storeHealth,
          exclusive: (name, fn) => database.withAdvisoryLock(name, fn),
          apiToken: config.apiToken,
        }),
    },
    async prune(retention) {
      // One node prunes at a time, the artifacts included; the others skip this round.
      const result = await database.tryWithAdvisoryLock('prune', async () => {
        const runs = await runStore.prune(retention);
        await history.prune();
        // After the runs: the artifacts of the runs dropped now go in the same round.
        return { runs, artifactRuns: await artifactStore.prune() };
      });
      return result.acquired ? result.value : { runs: 0, artifactRuns: 0 };
    },
    async close() {
      await Promise.all(bridges.map((bridge) => bridge.close()));
      publisher.disconnect();
      subscriber.disconnect();
      const written = (await Promise.all([runStore.flush(), history.flush()])).every(Boolean);
      await database.close();
      return written;
    },
  };
}

/** The handler once app.start() gives it; rejects with the signal's reason if the queue closes first. */
function untilStarted(handler: Promise<QueueTaskHandler>, signal: AbortSignal): Promise<QueueTaskHandler> {
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    void handler.then((run) => {
      signal.removeEventListener('abort', onAbort);
      resolve(run);
    });
  });
}
