/**
 * The composition root's cluster half (issue 17): how a node that createApp built takes part in
 * its cluster. It builds the node's membership (its place in the roll, the lease sweep, its fence, forwarding:
 * {@link ClusterNode}) and the cluster-wide views of its events, hands the API what it needs of
 * them, and owns the node's cluster life: joining and recovering at start, recording the runs the
 * queue reports lost, putting the line back after Redis lost its data, and leaving at shutdown.
 * Types only from the cluster's modules: an embedded bosun loads none of them.
 */
import type { BridgedEvents, ClusterHooks } from './app-backends.js';
import type { BosunServices } from './api/context.js';
import type { ClusterNode } from './cluster/cluster-node.js';
import { BosunError } from './errors.js';
import type { Logger } from './logger.js';
import type { DockerMonitor } from './monitor/docker-monitor.js';
import type { MonitorEvents } from './monitor/monitor-service.js';
import type { HealthReport } from './monitor/monitor-types.js';
import type { ExecutionQueue } from './queue/execution-queue.js';
import type { PauseHolder } from './queue/pause-holds.js';
import type { AgentRunService } from './runs/agent-run-service.js';
import type { ExternalRunService } from './runs/external/external-run-service.js';
import type { RunServiceEvents } from './runs/run-service.js';

export interface ClusterWiringOptions {
  readonly hooks: ClusterHooks;
  readonly runs: AgentRunService;
  /** This node's external run service: what forwarded calls for its runs reach. */
  readonly external: ExternalRunService;
  readonly monitor: DockerMonitor;
  /** The cluster's line, for the cluster-wide limit the advice compares with. */
  readonly queue: Pick<ExecutionQueue, 'stats'>;
  /**
   * The fence's hold on this node's share of the line (`PauseHolds.holder('fence')`): held while the
   * node is unsure of its lease or its store is DEGRADED, lifted without lifting the engine guard's
   * or shutdown's.
   */
  readonly share: PauseHolder;
  /** Called once if the cluster judged this node dead and ended its runs (see CreateAppOptions.onNodeLost). */
  readonly onLost: (reason: string) => void;
  readonly logger: Logger;
}

/** A cluster node's membership and cluster life (see the module comment). */
export class ClusterWiring {
  /** The node's membership: roll, lease sweep, forwarding. */
  readonly node: ClusterNode;
  readonly #options: ClusterWiringOptions;
  readonly #bridges: { readonly runs: BridgedEvents<RunServiceEvents>; readonly monitor: BridgedEvents<MonitorEvents> };
  readonly #onHealthCheck = (report: HealthReport): void => void this.#observeHealth(report);
  /** Shutdown began ({@link leave}): a start still under way adds nothing more. */
  #left = false;

  constructor(options: ClusterWiringOptions) {
    this.#options = options;
    const { hooks, runs, monitor } = options;
    this.node = hooks.createNode({
      runs,
      local: options.external,
      clusterLimit: () => options.queue.stats().maxConcurrency,
      share: options.share,
      onLost: options.onLost,
      logger: options.logger,
    });
    this.#bridges = {
      runs: hooks.bridge('runs', runs.events, ['run-updated', 'log']),
      monitor: hooks.bridge('monitor', monitor.events, ['sample', 'alert']),
    };
  }

  /**
   * What the API gets in cluster mode: external-run calls routed to the node that holds each run,
   * subscriptions on the cluster-wide views, and the roll.
   */
  services(): Pick<BosunServices, 'external' | 'views' | 'cluster'> {
    const node = this.node;
    return {
      external: node.forwarding,
      views: { runs: this.#bridges.runs.events, monitor: this.#bridges.monitor.events },
      cluster: {
        nodes: () => node.nodes(),
        advice: () => node.advice(),
        handleRequest: (headers, handle) => node.forwarding.handleRequest(headers, handle),
      },
    };
  }

  /**
   * The node's start, once its orphans are reaped: subscribes to the other nodes' events, joins
   * the roll, recovers its own runs and the line under the cluster's lock, and lets its worker run
   * what it takes. Resolves with what was recovered.
   */
  async start(): Promise<{ readonly interrupted: number; readonly requeued: number }> {
    const { hooks, runs, monitor, logger } = this.#options;
    // Subscribed before anything of this node is published: no other node's event is missed.
    await Promise.all([this.#bridges.runs.start(), this.#bridges.monitor.start()]);
    // Joined before recovering: a join waits while another node handles this name's last death.
    const report = await monitor.generateReport();
    await this.#observeHealth(report);
    const joined = await this.node.join(report.docker.version);
    this.#throwIfLeft();
    if (joined.previousUnhandled) {
      logger.info({ node: hooks.nodeName }, 'this node died last time without being noticed: its runs are recovered now');
    }
    monitor.events.on('health-check', this.#onHealthCheck);
    // Two nodes starting at once recover once: each only its own runs, the line under the lock.
    const recovered = await hooks.exclusive('recovery', () =>
      runs.recover({ node: hooks.nodeName, restoreWaiting: (waiting) => hooks.restoreWaiting(waiting) }),
    );
    this.#throwIfLeft();
    hooks.clusterEvents.on('lost', this.#onLost);
    hooks.clusterEvents.on('reset', this.#onReset);
    hooks.startTasks((id, signal) => runs.runTask(id, signal));
    return recovered;
  }

  /**
   * Shutdown, once the node's runs are over (until then the cluster counts it): stops listening and
   * leaves the roll. A {@link start} still under way stops at its next step (SHUTTING_DOWN).
   */
  async leave(): Promise<void> {
    this.#left = true;
    const { hooks, monitor } = this.#options;
    monitor.events.off('health-check', this.#onHealthCheck);
    hooks.clusterEvents.off('lost', this.#onLost);
    hooks.clusterEvents.off('reset', this.#onReset);
    await this.node.leave();
  }

  #throwIfLeft(): void {
    if (this.#left) throw new BosunError('SHUTTING_DOWN', 'bosun began shutting down while this node was joining its cluster');
  }

  /** Its heartbeat carries its containers' health and its own advice, from each health check. */
  #observeHealth(report: HealthReport): Promise<void> {
    return this.#options.monitor.adviseFrom(report).then(
      (advice) => this.node.observeHealth(report.overall, advice),
      () => this.node.observeHealth(report.overall, null),
    );
  }

  /** A dead node's run: recorded by the one node that claimed it. */
  readonly #onLost = ({ id, node, claimed }: { readonly id: string; readonly node: string; readonly claimed: boolean }): void => {
    if (!claimed) return;
    const logger = this.#options.logger;
    logger.warn({ runId: id, node }, 'a node stopped renewing its lease: its run is interrupted');
    this.node.recordLost(id, node).catch((error: unknown) => logger.error({ runId: id, err: error }, 'could not record a lost run'));
  };

  /** Redis back without its data gets the line back from PostgreSQL, the truth (one node at a time, runs back skipped). */
  readonly #onReset = (): void => {
    const { hooks, runs, logger } = this.#options;
    hooks
      .exclusive('recovery', async () => hooks.restoreWaiting(await runs.queuedRuns()))
      .then(
        (restored) => logger.warn({ restored }, 'Redis came back without its data: waiting runs put back from the database'),
        (error: unknown) => logger.error({ err: error }, 'could not put waiting runs back after Redis lost its data'),
      );
  };
}
