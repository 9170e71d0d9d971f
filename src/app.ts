/**
 * The composition root: builds the Docker client, sandbox manager, queue, run service, monitor
 * and server from one config, wires their events, and owns their shutdown. Nothing else in
 * bosun creates these; there are no module-level singletons.
 */
import { AgentRegistry } from './runs/agent-registry.js';
import type { Agent } from './runs/agent.js';
import { ShellAgent, SHELL_AGENT_NAME } from './agents/shell-agent.js';
import { ExternalAgent } from './agents/external-agent.js';
import { ExternalRunService } from './runs/external/external-run-service.js';
import { ExternalSessions } from './runs/external/external-sessions.js';
import type { BosunConfig } from './config.js';
import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import type { HealthAlert } from './monitor/monitor-types.js';
import { AlertWebhook } from './monitor/alert-webhook.js';
import { createStatsSampler } from './monitor/create-stats-sampler.js';
import { DockerMonitor } from './monitor/docker-monitor.js';
import type { ExecutionQueue } from './queue/execution-queue.js';
import { AgentRunService } from './runs/agent-run-service.js';
import { ArtifactCollector } from './runs/artifact-collector.js';
import { createDockerClient } from './sandbox/docker-client.js';
import { DEFAULT_SANDBOX_USER, type DockerSandbox } from './sandbox/docker-sandbox.js';
import { SandboxManager } from './sandbox/sandbox-manager.js';
import { WarmPool } from './sandbox/warm-pool.js';
import { createBosunServer, type BosunServer } from './server/create-server.js';
import { ConcurrencyAutoscaler } from './coordination/concurrency-autoscaler.js';
import { EngineGuard } from './coordination/engine-guard.js';
import { PauseHolds } from './queue/pause-holds.js';
import type { SqliteDatabase } from './store/database.js';
import type { StoreHealth } from './store/store-health.js';
import { createEmbeddedBackends, type AppBackends } from './app-backends.js';
import { ClusterWiring } from './cluster-wiring.js';

/** How often old runs and samples are pruned. */
const PRUNE_INTERVAL_MS = 60_000;

export interface CreateAppOptions {
  readonly logger: Logger;
  /**
   * Agents besides the built-in shell and external agents. In a cluster, every node should be built
   * with the same ones: any node may take any run, and a node that lacks a run's agent fails it.
   */
  readonly agents?: readonly Agent[];
  /** The stores and the queue; default: the embedded ones (SQLite, in-process queue). Cluster mode: openClusterBackends. */
  readonly backends?: AppBackends;
  /**
   * Cluster mode: called once if this node loses its place in the cluster (another node judged it
   * dead after a silence past NODE_LEASE_MS and ended its runs). main.ts exits; default: the app
   * closes itself.
   */
  readonly onNodeLost?: (reason: string) => void;
}

export interface BosunApp extends AsyncDisposable {
  readonly config: BosunConfig;
  /** The SQLite database; undefined in cluster mode (PostgreSQL). */
  readonly db: SqliteDatabase | undefined;
  /** Whether the store takes writes; it retries failed ones. */
  readonly storeHealth: StoreHealth;
  readonly instanceId: string;
  readonly sandboxes: SandboxManager;
  /** Where runs get their sandboxes: ready ones from the pool, else new ones from {@link sandboxes}. */
  readonly warmPool: WarmPool<DockerSandbox>;
  /** The line runs wait in: this process's (embedded) or the cluster's (shared by every node). */
  readonly queue: ExecutionQueue;
  readonly runs: AgentRunService;
  /** The calls of external runs (exec, files, archives, finish) on their live sandboxes. */
  readonly external: ExternalRunService;
  readonly monitor: DockerMonitor;
  readonly server: BosunServer;
  /**
   * Recovers what a previous process left (interrupted runs, waiting runs, orphan containers),
   * listens, and starts the periodic health check; resolves with the GraphQL URL. Starts even
   * when the engine is down: the queue then waits for it.
   */
  start(): Promise<{ url: string }>;
  /**
   * Graceful shutdown: stops admitting runs, lets running ones finish for up to `graceMs`
   * (default SHUTDOWN_GRACE_MS), stops the rest and removes their containers, closes the
   * monitor, ends subscriptions, closes the server and the database. Idempotent.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Builds bosun from its config. Opens the database first, before anything else is touched.
 * @throws DatabaseOpenError (one line naming the path) when the database is held by another
 *   process, is not a bosun database, is damaged or cannot be opened.
 */
export function createApp(config: BosunConfig, options: CreateAppOptions): BosunApp {
  const logger = options.logger;
  // Embedded: SQLite and the in-process queue, built here as ever. Cluster: opened by main.ts.
  // The queue's handler is the run service's, built below; a run starts only after start().
  const backends = options.backends ?? createEmbeddedBackends(config, { logger, runTask: (id, signal) => runs.runTask(id, signal) });
  const { instanceId, storeHealth, runStore, history, artifactStore, queue } = backends;
  const artifacts = new ArtifactCollector({
    store: artifactStore,
    maxBytesPerRun: config.artifactBytesPerRun,
    logger: logger.child({ component: 'artifacts' }),
  });
  const docker = createDockerClient(config.docker);
  const sandboxes = new SandboxManager(docker, instanceId, {
    isolation: {
      user: DEFAULT_SANDBOX_USER,
      tmpBytes: config.sandboxTmpBytes,
      workspaceBytes: config.sandboxWorkspaceBytes,
      network: config.sandboxNetwork,
    },
    callTimeoutMs: config.dockerCallTimeoutMs,
  });
  // Pool sandboxes are made with a run's defaults, so a default run's take changes no limit.
  const warmPool = new WarmPool<DockerSandbox>({
    provider: sandboxes,
    backend: sandboxes,
    images: config.warmPoolImages,
    size: config.warmPoolSize,
    limits: config.defaultLimits,
    user: sandboxes.isolation.user,
    maxAgeMs: config.warmPoolMaxAgeMs,
    logger: logger.child({ component: 'warm-pool' }),
  });
  const monitorLogger = logger.child({ component: 'monitor' });
  const monitor = new DockerMonitor({
    source: sandboxes,
    sampler: createStatsSampler({
      engineIsLocal: config.docker.kind === 'socket',
      source: sandboxes,
      intervalMs: config.resourceSampleIntervalMs,
      logger: monitorLogger,
      // After an engine outage, streams of still-running containers come back within seconds.
      streamRetryMaxDelayMs: 5_000,
    }),
    history,
    queue,
    // The advice weighs this node's host: it is about this node's cap (embedded, the queue's limit).
    concurrencyLimit: () => backends.nodeQueue.maxConcurrency(),
    logger: monitorLogger,
    thresholds: config.thresholds,
    alertConsecutiveSamples: config.alertConsecutiveSamples,
    sampleIntervalMs: config.resourceSampleIntervalMs,
    perRunLimits: config.defaultLimits,
    engineTimeoutMs: Math.min(config.dockerCallTimeoutMs, 5_000),
  });
  // Who pauses this node's share of the line (embedded, the whole queue), each for its own reason:
  // its engine guard, its cluster fence, its shutdown. It runs only while none holds it, so that
  // one lifting its hold (the engine answering again) never lifts another's (the node fenced).
  const nodeShare = new PauseHolds(backends.nodeQueue);
  // What acts on the monitor's events: each listens to it and is disposed of at shutdown.
  // The pool is (re)built only once the instance's orphans are reaped: at start, and after an outage.
  const guard = new EngineGuard({
    sandboxes,
    // This node's engine: holds this node's share of the line.
    queue: nodeShare.holder('engine'),
    monitorEvents: monitor.events,
    logger: logger.child({ component: 'engine' }),
    afterReap: () => warmPool.rebuild(),
  });
  const autoscaler = config.concurrencyAutoscale
    ? new ConcurrencyAutoscaler({
        monitorEvents: monitor.events,
        advise: (report) => monitor.adviseFrom(report),
        // This node's own cap (embedded, the queue's limit): in a cluster, every node moving the
        // cluster-wide limit from the advice on its own containers would have them fight over it.
        queue: backends.nodeQueue,
        max: autoscaleMax(config),
        logger: monitorLogger,
      })
    : null;
  const alertWebhook =
    config.alertWebhookUrl === undefined
      ? null
      : new AlertWebhook({ url: config.alertWebhookUrl, secret: config.alertWebhookSecret, logger: monitorLogger });
  const notifyWebhook = (alert: HealthAlert): void => void alertWebhook?.notify(alert);
  if (alertWebhook !== null) monitor.events.on('alert', notifyWebhook);
  // External runs' live sessions: their agent registers them, the API reaches them.
  const sessions = new ExternalSessions();
  // Typed: the queue above refers to it (its handler), which TypeScript cannot infer through.
  const runs: AgentRunService = new AgentRunService({
    store: runStore,
    queue,
    sandboxes: warmPool,
    agents: new AgentRegistry([new ShellAgent(), new ExternalAgent({ sessions }), ...(options.agents ?? [])]),
    defaults: {
      agent: SHELL_AGENT_NAME,
      image: config.sandboxImage,
      limits: config.defaultLimits,
      timeoutMs: config.agentTimeoutMs,
      idleTimeoutMs: config.externalIdleTimeoutMs,
    },
    queueTimeoutMs: config.queueTimeoutMs,
    // Shutdown's hold, which no other holder's resume lifts.
    nodeQueue: nodeShare.holder('shutdown'),
    nodeName: backends.nodeName,
    stopGraceMs: config.stopGraceMs,
    logBytesPerRun: config.logBytesPerRun,
    onEngineLost: (error) => guard.engineLost(error.message),
    collectArtifacts: (request) => artifacts.collect(request),
    // Cluster mode: a run another node runs is cancelled there (the cluster's wiring is built below).
    ...(backends.cluster === undefined ? {} : { cancelElsewhere: (id: string, node: string) => cluster!.node.cancelOn(node, id) }),
    logger: logger.child({ component: 'runs' }),
  });
  const external = new ExternalRunService({
    runs,
    sessions,
    uploadMaxBytes: config.uploadMaxBytes,
    extractMaxBytes: config.sandboxWorkspaceBytes,
    nodeName: backends.nodeName,
    ...(backends.cluster === undefined ? {} : { flush: () => runStore.flush() }),
  });
  // Node-local consumers (the monitor, the guard, metrics) follow this node's own events; the API's
  // subscriptions follow the cluster-wide views, so that any node shows every node's runs.
  const detachMonitor = monitor.attachToRuns(runs.events);
  // Cluster mode: this node's membership (roll, lease sweep, forwarding) and the cluster-wide views.
  const cluster =
    backends.cluster === undefined
      ? undefined
      : new ClusterWiring({
          hooks: backends.cluster,
          runs,
          external,
          monitor,
          queue,
          // Cut off from PostgreSQL (or its store DEGRADED), the node stops taking runs.
          share: nodeShare.holder('fence'),
          onLost: (reason) => (options.onNodeLost ? options.onNodeLost(reason) : void close()),
          logger: logger.child({ component: 'cluster' }),
        });
  const server = createBosunServer({
    config,
    services: {
      runs,
      queue,
      monitor,
      store: storeHealth,
      artifacts: artifactStore,
      external,
      warmPool,
      // Cluster mode: calls routed to the node that holds each run, subscriptions on the cluster-wide views, the roll.
      ...cluster?.services(),
    },
    logger,
  });
  const prune = () => {
    // Deleting needs room to write too; while writes fail, the retries come first.
    if (storeHealth.report().status !== 'OK') return;
    // The artifacts of every run that is gone (pruned now or before a crash) go in the same round,
    // under the cluster's prune lock in cluster mode.
    backends.prune({ maxFinishedRuns: config.runRetentionCount, maxAgeMs: config.runRetentionMs }).then(
      ({ runs: dropped, artifactRuns }) => {
        if (dropped > 0) logger.info({ dropped }, 'pruned old runs');
        if (artifactRuns > 0) logger.info({ runs: artifactRuns }, 'pruned the artifacts of old runs');
      },
      (error: unknown) => logger.error({ err: error }, 'pruning failed'),
    );
  };
  let pruneTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  const close = (graceMs = config.shutdownGraceMs): Promise<void> => {
    closing ??= (async () => {
      logger.info({}, 'shutting down');
      const step = async (name: string, action: () => Promise<void> | void) => {
        try {
          await action();
        } catch (error) {
          logger.error({ err: error }, `shutdown: ${name} failed: ${errorMessage(error)}`);
        }
      };
      clearInterval(pruneTimer);
      // First: nothing is created ahead of time for runs that will not come.
      await step('remove the warm pool', () => warmPool.close());
      // Before the runs stop: a health check during the grace period must not resume the queue
      // (the engine guard) or change its limit (the autoscaler) that the shutdown pauses.
      await step('detach queue coordination', () => {
        guard[Symbol.dispose]();
        autoscaler?.[Symbol.dispose]();
      });
      await step('stop runs', () => runs.shutdown(graceMs));
      // Once its runs are over: until then the cluster counts it, and its runs are its own to end.
      await step('leave the cluster', () => cluster?.leave());
      await step('detach monitor', () => {
        detachMonitor();
        external[Symbol.dispose]();
      });
      await step('close monitor', () => monitor.close());
      // After the monitor: alerts resolved as the last containers went are still delivered.
      await step('close alert webhook', async () => {
        monitor.events.off('alert', notifyWebhook);
        await alertWebhook?.close();
      });
      await step('close server', () => server.close());
      // The safety net: nothing this instance created outlives it.
      await step('remove sandboxes', () => sandboxes.disposeAll());
      await step('close database', async () => {
        // One last try of what failed, then the final flush of what waits.
        storeHealth.retryNow();
        storeHealth[Symbol.dispose]();
        // The queue closed with the runs (runs.shutdown); then the stores flush and the database closes.
        const written = await backends.close();
        if (!written) {
          logger.error({ store: storeHealth.report() }, 'shutdown: the store cannot write; what still waited for it is lost');
        }
      });
      logger.info({}, 'shut down');
    })();
    return closing;
  };

  return {
    config,
    db: backends.db,
    storeHealth,
    instanceId,
    sandboxes,
    warmPool,
    queue,
    runs,
    external,
    monitor,
    server,
    async start() {
      // Nothing starts before orphans are reaped: a new run's container must never be taken for one.
      await guard.hold();
      // Embedded: what the last process left. Cluster: the node joins, and recovers its own.
      const recovered = cluster === undefined ? await runs.recover() : await cluster.start();
      if (recovered.interrupted + recovered.requeued > 0) logger.info(recovered, 'recovered runs from the store');
      const engineUp = await guard.checkNow();
      if (!engineUp) logger.warn({}, 'Docker engine unreachable at start: runs wait until it answers');
      const { url } = await server.listen();
      monitor.startMonitoring(config.healthCheckIntervalMs);
      prune();
      pruneTimer = setInterval(prune, PRUNE_INTERVAL_MS);
      pruneTimer.unref();
      logger.info(
        {
          instanceId,
          maxConcurrentAgents: config.maxConcurrentAgents,
          sandboxImage: config.sandboxImage,
          warmPool: config.warmPoolSize === 0 ? 'off' : { size: config.warmPoolSize, images: config.warmPoolImages },
        },
        'bosun started',
      );
      return { url };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The highest cap autoscaling sets: CONCURRENCY_AUTOSCALE_MAX, and in a cluster never above NODE_MAX_CONCURRENT_AGENTS. */
function autoscaleMax(config: BosunConfig): number {
  const nodeCap = config.cluster?.nodeMaxConcurrentAgents ?? 0;
  return nodeCap === 0 ? config.concurrencyAutoscaleMax : Math.min(config.concurrencyAutoscaleMax, nodeCap);
}
