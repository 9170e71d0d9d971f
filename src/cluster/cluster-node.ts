/**
 * This node as a member of the cluster (issue 17): the parts that make several nodes answer as
 * one, owned together because they share one view of the roll of nodes.
 * - Its place in the roll ({@link NodeRegistry}): joined at start, renewed by a heartbeat that
 *   carries its figures (runs running here, its containers' health, its concurrency advice), left
 *   at a graceful stop.
 * - The lease sweep ({@link NodeLeaseSweep}): a node that dies without leaving has its RUNNING
 *   runs ended FAILED / INTERRUPTED, naming it, by one other node, within about the lease. (The
 *   queue's `lost` job does the same job by job; whichever comes first records it, once: both
 *   record under one cluster-wide lock and read the store first.)
 * - Forwarding ({@link NodeForwarding}): calls on a run's sandbox go to the node that runs it,
 *   found from the run's `node` in the shared store and that node's URL in the roll.
 * - Its fence ({@link NodeFence}): while it is unsure of its lease (not renewed for two thirds of
 *   it) or its store is DEGRADED, it takes no runs from the line; the other nodes take them.
 * - The cluster-wide view: `healthReport.nodes` and the cluster's concurrency advice.
 *
 * Built by the cluster's backends (src/cluster-backends.ts) for the composition root, so that an
 * embedded bosun never loads it.
 */
import { BosunError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ConcurrencyAdvice, HealthOverall } from '../monitor/monitor-types.js';
import type { AgentRun } from '../runs/agent-run.js';
import type { PauseHolder } from '../queue/pause-holds.js';
import { NodeFence, type FencedStore } from './node-fence.js';
import { NodeForwarding, type LocalExternalRuns, type NodeAddress } from './node-forwarding.js';
import { NodeLeaseSweep } from './node-lease-sweep.js';
import { containerSummary, NodeRegistry, type NodeContainerSummary, type NodeHealth, type NodeJoin, type NodeStore } from './node-registry.js';

/** What the cluster can take at once, by what each reachable node advises for itself. */
export interface ClusterConcurrencyAdvice {
  /** The cluster-wide limit now (MAX_CONCURRENT_AGENTS, setMaxConcurrency); 0 = unlimited. */
  readonly current: number;
  /**
   * The sum over reachable nodes of each one's own advice, capped by its own limit
   * (NODE_MAX_CONCURRENT_AGENTS); a node that has not advised yet counts 1, as a host whose
   * capacity is unknown does.
   */
  readonly recommended: number;
  /** recommended > current (never when current is 0, unlimited). */
  readonly canIncrease: boolean;
  /** Why, in one sentence for people: each node's share. */
  readonly reason: string;
}

/** The run service, as far as this node's membership needs it. */
export interface ClusterNodeRuns {
  /** The run as this node knows it (the store's copy for another node's run). */
  get(runId: string): Promise<AgentRun | undefined>;
  /** Ends the run FAILED / INTERRUPTED, naming `node`, unless it is final already; resolves whether it did, once written. */
  markLost(runId: string, node: string): Promise<boolean>;
  /** Ends `node`'s RUNNING runs FAILED / INTERRUPTED, naming it, once written; resolves with the runs it ended. */
  markNodeLost(node: string): Promise<string[]>;
  /** Runs running on this node now. */
  readonly runningHere: number;
}

export interface ClusterNodeOptions {
  /** BOSUN_NODE_NAME. */
  readonly name: string;
  /** The label of this node's containers. */
  readonly instanceId: string;
  /** BOSUN_NODE_URL: where the other nodes reach this one; null when they cannot (calls for its runs are then refused elsewhere). */
  readonly url: string | null;
  /** NODE_MAX_CONCURRENT_AGENTS; 0 = no limit of its own. */
  readonly capacity: number;
  /** NODE_LEASE_MS. */
  readonly leaseMs: number;
  /** The roll (PostgreSQL's `nodes` table). */
  readonly store: NodeStore;
  readonly runs: ClusterNodeRuns;
  /** This node's external run service: what forwarded calls for its runs reach. */
  readonly local: LocalExternalRuns;
  /** Runs `fn` holding the cluster-wide lock `name` (a PostgreSQL advisory lock). */
  readonly exclusive: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
  /** The cluster-wide limit now, for the cluster's advice. */
  readonly clusterLimit: () => number;
  /** The fence's hold on this node's share of the line (`PauseHolds.holder('fence')`). */
  readonly share: PauseHolder;
  /** This node's store health: DEGRADED fences the node. */
  readonly storeHealth: FencedStore;
  /** The cluster's BOSUN_API_TOKEN (every node has the same), sent with forwarded calls. */
  readonly apiToken: string | undefined;
  /**
   * Called once if this node loses its place in the roll (another node judged it dead after a
   * silence past the lease, and ended its runs): it must stop, since the cluster no longer counts
   * it. main.ts exits, and the supervisor's restart reaps what it left.
   */
  readonly onLost: (reason: string) => void;
  readonly logger: Logger;
  /** Default the global fetch. */
  readonly fetch?: typeof fetch | undefined;
}

/** The lock under which a lost run is recorded, by whichever of the queue or the lease sweep comes first. */
const LOST_RUNS_LOCK = 'lost-runs';
/** How long the owner of a run may take to stop it for a forwarded cancel, at least (or the lease, if longer). */
const CANCEL_TIMEOUT_MS = 60_000;

const NO_CONTAINERS: NodeContainerSummary = Object.freeze({ total: 0, healthy: 0, warning: 0, critical: 0 });

/** This node's membership: roll, lease sweep, forwarding and the cluster-wide view (see the module comment). */
export class ClusterNode {
  /** What the API is given as `services.external`: each call served where its run is. */
  readonly forwarding: NodeForwarding;
  readonly #registry: NodeRegistry;
  readonly #sweep: NodeLeaseSweep;
  readonly #fence: NodeFence;
  #containers: NodeContainerSummary = NO_CONTAINERS;
  #recommended: number | null = null;

  constructor(private readonly options: ClusterNodeOptions) {
    const logger = options.logger;
    this.#registry = new NodeRegistry({
      store: options.store,
      leaseMs: options.leaseMs,
      figures: () => ({ running: options.runs.runningHere, containers: this.#containers, recommendedConcurrency: this.#recommended }),
      logger,
      onLost: options.onLost,
    });
    this.#sweep = new NodeLeaseSweep({
      registry: this.#registry,
      onExpired: async (node) => {
        const ended = await options.exclusive(LOST_RUNS_LOCK, () => options.runs.markNodeLost(node.name));
        if (ended.length > 0)
          logger.warn({ node: node.name, runs: ended }, `node "${node.name}" died without leaving: its running runs are interrupted`);
      },
      logger,
    });
    this.#fence = new NodeFence({
      name: options.name,
      lease: this.#registry.events,
      store: options.storeHealth,
      share: options.share,
      logger,
    });
    this.forwarding = new NodeForwarding({
      nodeName: options.name,
      locate: (runId) => this.locate(runId),
      local: options.local,
      readRun: (runId) => options.runs.get(runId),
      apiToken: options.apiToken,
      fetch: options.fetch,
    });
  }

  /**
   * Joins the roll (waiting while another node handles the death of this name's previous life)
   * and starts the heartbeat, the lease sweep and the fence.
   * @throws BosunError INVALID_STATE when a live node of another instance holds the name; the store's error.
   */
  async join(engineVersion: string | null, signal?: AbortSignal): Promise<NodeJoin> {
    const joined = await this.#registry.join(
      { name: this.options.name, instanceId: this.options.instanceId, url: this.options.url, capacity: this.options.capacity, engineVersion },
      signal,
    );
    this.#sweep.start();
    this.#fence.start();
    if (this.options.url === null) {
      this.options.logger.warn(
        { node: this.options.name },
        'BOSUN_NODE_URL is not set: other nodes cannot reach this one, so calls on its runs sent to them are refused (UNAVAILABLE)',
      );
    }
    return joined;
  }

  /** The figures the next heartbeat carries: this node's containers and its own advice, from its last health check. */
  observeHealth(overall: HealthOverall, advice: Pick<ConcurrencyAdvice, 'recommended'> | null): void {
    this.#containers = containerSummary(overall);
    if (advice !== null) this.#recommended = advice.recommended;
  }

  /** Every node of the roll, by name (those unreachable and those that left too): `healthReport.nodes`. */
  nodes(): Promise<NodeHealth[]> {
    return this.#registry.list();
  }

  /** The cluster's concurrency advice, from each reachable node's own (as of its last heartbeat). */
  async advice(): Promise<ClusterConcurrencyAdvice> {
    const reachable = (await this.nodes()).filter((node) => node.reachable);
    const current = this.options.clusterLimit();
    const shares = reachable.map((node) => {
      const own = node.recommendedConcurrency ?? 1;
      return { name: node.name, share: node.capacity > 0 ? Math.min(own, node.capacity) : own };
    });
    const recommended = Math.max(
      1,
      shares.reduce((sum, { share }) => sum + share, 0),
    );
    const reason =
      shares.length === 0
        ? 'No node is reachable: run one agent at a time.'
        : `${shares.length} reachable node(s) can take ${shares.map(({ name, share }) => `${share} (${name})`).join(' + ')}, each by its own advice within its own limit.`;
    return { current, recommended, canIncrease: current !== 0 && recommended > current, reason };
  }

  /**
   * Cancels `runId` on `node`, the node that runs it (the run service's `cancelElsewhere`).
   * @throws BosunError UNAVAILABLE when the node cannot be reached (see {@link address}), or the owner's refusal.
   */
  async cancelOn(node: string, runId: string): Promise<AgentRun> {
    // The owner stops the run (its grace, its container's removal) before it answers.
    return this.forwarding.cancelOn(await this.address(node, runId), runId, Math.max(CANCEL_TIMEOUT_MS, this.options.leaseMs));
  }

  /**
   * Records a run the queue reported lost (its node stopped renewing its job's lock), under the
   * lock the lease sweep records under: whichever comes first records it, once.
   */
  recordLost(runId: string, node: string): Promise<boolean> {
    return this.options.exclusive(LOST_RUNS_LOCK, () => this.options.runs.markLost(runId, node));
  }

  /** True while this node takes no runs because it is unsure of its lease or its store is DEGRADED. */
  get fenced(): boolean {
    return this.#fence.fenced;
  }

  /** Stops the fence and the sweep, then leaves the roll (a graceful stop hands nothing over). Idempotent. */
  async leave(): Promise<void> {
    await this.#fence.close();
    await this.#sweep.close();
    await this.#registry.leave();
  }

  /** Where a run's sandbox is: undefined when here, or when the run runs nowhere (served here as any node would). */
  private async locate(runId: string): Promise<NodeAddress | undefined> {
    const run = await this.options.runs.get(runId);
    if (!run || run.status !== 'RUNNING' || run.node === null || run.node === this.options.name) return undefined;
    return this.address(run.node, runId);
  }

  /** The URL of `node` from the roll; UNAVAILABLE, saying why, when calls cannot reach it. */
  private async address(node: string, runId: string): Promise<NodeAddress> {
    const entry = (await this.#registry.list()).find((candidate) => candidate.name === node);
    const where = `run ${runId} runs on node ${node}`;
    if (!entry) throw new BosunError('UNAVAILABLE', `${where}, which is not in the cluster's roll of nodes`);
    if (entry.url === null) {
      throw new BosunError(
        'UNAVAILABLE',
        `${where}, which other nodes cannot reach (it has no BOSUN_NODE_URL): send the call to node ${node}, or set BOSUN_NODE_URL there`,
      );
    }
    if (!entry.reachable) {
      throw new BosunError(
        'UNAVAILABLE',
        `${where}, which has not renewed its lease since ${entry.lastSeenAt.toISOString()}: once the lease (${this.options.leaseMs} ms) runs out its runs end INTERRUPTED`,
      );
    }
    return { name: node, url: entry.url };
  }
}
