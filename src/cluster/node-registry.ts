/**
 * The cluster's roll of nodes (issue 17): which nodes there are, which are alive, and which died
 * without a word, so that another node can end a dead node's running runs within the lease.
 *
 * Each node {@link NodeRegistry.join joins} under its name (BOSUN_NODE_NAME), then renews its
 * lease with a heartbeat every third of the lease, carrying its live figures (runs running, its
 * containers' health). A node whose last heartbeat is older than the lease, by the store's clock
 * (never a node's, which may be off), is unreachable; one that did not {@link NodeRegistry.leave
 * leave} is expired, and exactly one other node {@link NodeRegistry.claimExpired claims} its death.
 *
 * A node that has not renewed its lease for {@link NodeRegistry.leaseDoubtMs} (two thirds of it) is
 * unsure of it: the other nodes may judge it dead within the last third. The registry says so
 * ({@link NodeLeaseEvents}), so that the node stops taking runs it might not get to record.
 *
 * The roll itself lives in a {@link NodeStore} (PostgreSQL's: src/store/postgres/pg-node-registry.ts);
 * this class owns what is the node's own: its identity once joined and its heartbeat timer.
 */
import { EventEmitter } from 'node:events';
import { BosunError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { HealthOverall } from '../monitor/monitor-types.js';

/** What a node says of itself when it joins. */
export interface NodeInfo {
  /** BOSUN_NODE_NAME: unique among the live nodes. */
  readonly name: string;
  /** The node's instance id (the `bosun.instance` label of its containers); may be kept across restarts. */
  readonly instanceId: string;
  /** BOSUN_NODE_URL: where the other nodes reach it, or null. */
  readonly url: string | null;
  /** Its own concurrency limit (NODE_MAX_CONCURRENT_AGENTS); 0 means none of its own. */
  readonly capacity: number;
  /** Its Docker engine's version, or null when the engine did not answer. */
  readonly engineVersion: string | null;
}

/** How a node's containers are, in counts (its monitor's `overall`). */
export interface NodeContainerSummary {
  readonly total: number;
  readonly healthy: number;
  readonly warning: number;
  readonly critical: number;
}

/** A node's container counts from its monitor's report (`HealthReport.overall`), for its heartbeat. */
export function containerSummary(
  overall: Pick<HealthOverall, 'totalContainers' | 'healthyContainers' | 'warningContainers' | 'criticalContainers'>,
): NodeContainerSummary {
  return {
    total: overall.totalContainers,
    healthy: overall.healthyContainers,
    warning: overall.warningContainers,
    critical: overall.criticalContainers,
  };
}

/** What a heartbeat carries: the node's figures at the time. */
export interface NodeFigures {
  /** Runs RUNNING on the node. */
  readonly running: number;
  readonly containers: NodeContainerSummary;
  /** The node's own concurrency advice (1 to 4), from its last health check; null before the first. */
  readonly recommendedConcurrency: number | null;
}

/** One node of the roll, as `healthReport.nodes` shows it. */
export interface NodeHealth {
  readonly name: string;
  readonly instanceId: string;
  readonly url: string | null;
  /** Its last heartbeat is within the lease (by the store's clock), and it did not leave. */
  readonly reachable: boolean;
  /** As of its last heartbeat. */
  readonly running: number;
  readonly capacity: number;
  readonly engineVersion: string | null;
  /** As of its last heartbeat. */
  readonly containers: NodeContainerSummary;
  /** Its own concurrency advice as of its last heartbeat (1 to 4); null before its first health check. */
  readonly recommendedConcurrency: number | null;
  readonly startedAt: Date;
  readonly lastSeenAt: Date;
  /** When it left gracefully, or null. */
  readonly stoppedAt: Date | null;
}

/** One life of a node in the roll: its name, and which join under that name it is. */
export interface NodeIdentity {
  readonly name: string;
  /** Counts the joins under the name; a rejoin is a new life (a dead life is handled once). */
  readonly incarnation: number;
}

/** What {@link NodeStore.join} found and did. */
export interface NodeJoin {
  readonly self: NodeIdentity;
  /** The name's previous life, or null for a new name. */
  readonly previous: NodeHealth | null;
  /**
   * The previous life ended without leaving and no node handled its death: its runs are still
   * RUNNING in the store. The joining node recovers them, as any node does its own at start.
   */
  readonly previousUnhandled: boolean;
}

export type ClaimResult<T> = { readonly claimed: true; readonly value: T } | { readonly claimed: false };

/** A dead node's death, handled by `fn` under {@link NodeRegistry.claimExpired}. */
export type ExpiredNodeHandler<T> = (node: NodeHealth, signal: AbortSignal) => Promise<T>;

/** Where the roll is kept: a store every node shares. Every time is the store's own clock. */
export interface NodeStore {
  /**
   * Adds the node, or takes over its name's row from a life that is dead, left, or has the same
   * instance id (a restart faster than the lease). One join of a name at a time.
   * @throws BosunError INVALID_STATE when a live node of another instance id holds the name.
   */
  join(info: NodeInfo, figures: NodeFigures, leaseMs: number, signal?: AbortSignal): Promise<NodeJoin>;
  /**
   * Renews `self`'s lease with its figures. False when the row is no longer this life's: another
   * instance took the name, or another node handled this life's death (it was unreachable past
   * the lease).
   */
  beat(self: NodeIdentity, figures: NodeFigures, leaseMs: number): Promise<boolean>;
  /** Marks `self` stopped: it is not expired, and hands nothing over. */
  leave(self: NodeIdentity): Promise<void>;
  list(leaseMs: number): Promise<NodeHealth[]>;
  /**
   * The nodes past the lease that did not leave and whose death nobody handled yet; empty unless
   * `self` itself is live and has been heartbeating for a lease without a break (see the
   * migration's comment: after an outage of the store every node gets a lease to beat again).
   */
  expired(self: NodeIdentity, leaseMs: number): Promise<NodeHealth[]>;
  /** Runs `fn` for the expired node `name` if it still is one (as {@link expired} says) and no other node is at it. */
  claimExpired<T>(self: NodeIdentity, name: string, leaseMs: number, fn: ExpiredNodeHandler<T>, signal?: AbortSignal): Promise<ClaimResult<T>>;
}

export interface NodeRegistryOptions {
  readonly store: NodeStore;
  /** NODE_LEASE_MS: a node silent for longer is unreachable. The heartbeat beats every third of it. */
  readonly leaseMs: number;
  /**
   * The node's figures for the next heartbeat; when it throws, the heartbeat carries the last
   * ones. Keep it quick (counts the node holds): {@link NodeRegistry.leave} waits for a beat in flight.
   */
  readonly figures: () => NodeFigures | Promise<NodeFigures>;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /**
   * Called once when this node's row stopped being its own (see {@link NodeStore.beat}): its
   * runs may have been ended INTERRUPTED by another node. The heartbeat stops.
   */
  readonly onLost?: (reason: string) => void;
}

/** What {@link NodeRegistry.events} emits about this node's own lease. Listeners must not throw. */
export interface NodeLeaseEvents {
  /**
   * No heartbeat renewed the lease for {@link NodeRegistry.leaseDoubtMs} (a store away or too
   * slow): the other nodes may judge this node dead within the rest of the lease. Once until the
   * next `lease-renewed`.
   */
  'lease-unsure': [{ readonly renewedAt: Date; readonly doubtMs: number }];
  /** A heartbeat renewed the lease again after `lease-unsure`. */
  'lease-renewed': [];
}

const NO_CONTAINERS: NodeContainerSummary = Object.freeze({ total: 0, healthy: 0, warning: 0, critical: 0 });
const IDLE: NodeFigures = Object.freeze({ running: 0, containers: NO_CONTAINERS, recommendedConcurrency: null });

/** This node in the roll: its join, heartbeat and leave, and its view of the other nodes. */
export class NodeRegistry {
  readonly leaseMs: number;
  readonly heartbeatIntervalMs: number;
  /**
   * After a heartbeat failed, the next comes this soon (a tenth of the lease): a node whose store
   * comes back late in the lease renews it before the other nodes judge it dead, and stops being
   * fenced (src/cluster/node-fence.ts) soon after.
   */
  readonly heartbeatRetryMs: number;
  /** Two thirds of the lease: unrenewed for longer, this node is unsure of its lease. */
  readonly leaseDoubtMs: number;
  /** This node's lease in doubt and renewed again (see {@link NodeLeaseEvents}). */
  readonly events = new EventEmitter<NodeLeaseEvents>();
  /** Fires {@link leaseDoubtMs} after the start of the last call that renewed the lease. */
  #doubtTimer: NodeJS.Timeout | undefined;
  #unsure = false;
  #self: NodeIdentity | undefined;
  #figures: NodeFigures = IDLE;
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  #stopped = false;
  /** Failed heartbeats in a row: the first is logged, and the recovery. */
  #failures = 0;
  /** The figures callback failed last time: logged once until it works again. */
  #figuresFailing = false;

  constructor(private readonly options: NodeRegistryOptions) {
    if (!Number.isInteger(options.leaseMs) || options.leaseMs < 3) {
      throw new TypeError(`Expected leaseMs to be an integer of at least 3, got ${String(options.leaseMs)}`);
    }
    this.leaseMs = options.leaseMs;
    this.heartbeatIntervalMs = Math.floor(options.leaseMs / 3);
    this.heartbeatRetryMs = Math.max(1, Math.floor(options.leaseMs / 10));
    this.leaseDoubtMs = Math.floor((options.leaseMs * 2) / 3);
  }

  /** True from `lease-unsure` until the next `lease-renewed` (see {@link NodeLeaseEvents}). */
  get leaseUnsure(): boolean {
    return this.#unsure;
  }

  /** This node's life in the roll once joined. */
  get self(): NodeIdentity | undefined {
    return this.#self;
  }

  /**
   * Joins the roll as `info` and starts the heartbeat. Waits while another node handles the
   * death of this name's previous life (then `previousUnhandled` is false).
   * @throws BosunError INVALID_STATE when a live node of another instance id holds the name, or
   *   this registry joined already or was stopped; the store's error; `signal`'s reason.
   */
  async join(info: NodeInfo, signal?: AbortSignal): Promise<NodeJoin> {
    if (this.#self || this.#stopped) throw new BosunError('INVALID_STATE', 'this node registry has joined already or was stopped');
    this.#figures = await this.readFigures();
    // The store stamps the lease somewhere within the call: counted from its start, to be safe.
    const calledAt = Date.now();
    const joined = await this.options.store.join(info, this.#figures, this.leaseMs, signal);
    if (this.#stopped) {
      // Stopped while joining: the row is left to expire, as a node that died.
      return joined;
    }
    this.#self = joined.self;
    this.renewed(calledAt);
    this.schedule();
    return joined;
  }

  /** Every node of the roll, by name, reachable or not (those that left too). */
  list(): Promise<NodeHealth[]> {
    return this.options.store.list(this.leaseMs);
  }

  /**
   * The nodes that died without leaving and whose death nobody handled yet: the lease sweep's
   * input. Empty before {@link join}, and while this node itself has not been heartbeating for a lease.
   */
  async expiredNodes(): Promise<NodeHealth[]> {
    if (!this.#self || this.#stopped) return [];
    return this.options.store.expired(this.#self, this.leaseMs);
  }

  /**
   * Runs `fn` for the dead node `name` once cluster-wide: under an advisory lock, if it is still
   * expired and no node handled this life of it yet; marked handled when `fn` resolves (when it
   * throws, a later sweep tries again). `{ claimed: false }` when another node has it, or had it,
   * or the node is alive again.
   * @throws BosunError INVALID_STATE before {@link join}; `fn`'s error; `signal`'s reason.
   */
  claimExpired<T>(name: string, fn: ExpiredNodeHandler<T>, signal?: AbortSignal): Promise<ClaimResult<T>> {
    if (!this.#self || this.#stopped) {
      return Promise.reject(new BosunError('INVALID_STATE', 'this node has not joined the cluster, or has left it'));
    }
    return this.options.store.claimExpired(this.#self, name, this.leaseMs, fn, signal);
  }

  /** Graceful stop: ends the heartbeat and marks the node stopped (not expired: nothing is handed over). */
  async leave(): Promise<void> {
    const self = this.#self;
    await this.stop();
    if (self) await this.options.store.leave(self);
  }

  /**
   * Ends the heartbeat without leaving: the roll sees the node die once the lease runs out (what
   * an abnormal end of the process must look like). Idempotent.
   */
  async close(): Promise<void> {
    await this.stop();
  }

  private async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.stopDoubting();
    await this.#beating;
  }

  private schedule(): void {
    const delayMs = this.#failures > 0 ? this.heartbeatRetryMs : this.heartbeatIntervalMs;
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#beating = this.beat().finally(() => {
        this.#beating = undefined;
        this.schedule();
      });
    }, delayMs);
  }

  /** One heartbeat; never throws: a store that is away is logged once per outage. */
  private async beat(): Promise<void> {
    const self = this.#self;
    if (!self || this.#stopped) return;
    this.#figures = await this.readFigures();
    const calledAt = Date.now();
    let ours: boolean;
    try {
      ours = await this.options.store.beat(self, this.#figures, this.leaseMs);
    } catch (error) {
      this.#failures += 1;
      if (this.#failures === 1) {
        this.options.logger.warn(
          { err: error, node: self.name },
          `node registry: the heartbeat failed (${errorMessage(error)}); retrying every ${this.heartbeatRetryMs} ms, other nodes see this one unreachable after ${this.leaseMs} ms`,
        );
      }
      return;
    }
    if (this.#failures > 0) {
      this.options.logger.info(
        { node: self.name, failures: this.#failures },
        `node registry: the heartbeat works again after ${this.#failures} failure(s)`,
      );
      this.#failures = 0;
    }
    if (!ours) {
      const reason = `node "${self.name}" lost its place in the cluster: another instance took its name, or another node handled it as dead after it was unreachable for ${this.leaseMs} ms`;
      this.options.logger.error({ node: self.name }, reason);
      this.#stopped = true;
      this.stopDoubting();
      this.options.onLost?.(reason);
      return;
    }
    if (!this.#stopped) this.renewed(calledAt);
  }

  /** The lease was renewed by a call made at `calledAt` (Date.now()): in doubt again leaseDoubtMs after it. */
  private renewed(calledAt: number): void {
    clearTimeout(this.#doubtTimer);
    if (this.#unsure) {
      this.#unsure = false;
      this.events.emit('lease-renewed');
    }
    this.#doubtTimer = setTimeout(
      () => {
        this.#doubtTimer = undefined;
        if (this.#stopped) return;
        this.#unsure = true;
        this.events.emit('lease-unsure', { renewedAt: new Date(calledAt), doubtMs: this.leaseDoubtMs });
      },
      Math.max(0, calledAt + this.leaseDoubtMs - Date.now()),
    );
  }

  private stopDoubting(): void {
    clearTimeout(this.#doubtTimer);
    this.#doubtTimer = undefined;
  }

  private async readFigures(): Promise<NodeFigures> {
    try {
      const figures = await this.options.figures();
      this.#figuresFailing = false;
      return figures;
    } catch (error) {
      if (this.#figuresFailing) return this.#figures;
      this.#figuresFailing = true;
      this.options.logger.warn(
        { err: error },
        `node registry: the node's figures could not be read (${errorMessage(error)}); the heartbeat carries the last ones`,
      );
      return this.#figures;
    }
  }
}
