/**
 * What every resolver receives: the domain services it adapts, the owner of live subscription
 * streams, and who is calling. The server builds one context per operation; nothing here is
 * module-level state.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { ClusterConcurrencyAdvice } from '../cluster/cluster-node.js';
import type { NodeHealth } from '../cluster/node-registry.js';
import type { MonitorService } from '../monitor/monitor-service.js';
import type { ExecutionQueue } from '../queue/execution-queue.js';
import type { ArtifactSource } from '../runs/artifact-store.js';
import type { RunService } from '../runs/run-service.js';
import type { ExternalRunService } from '../runs/external/external-run-service.js';
import type { WarmPoolStatus } from '../sandbox/warm-pool.js';
import type { StoreHealthSource } from '../store/store-health.js';
import type { StreamRegistry } from './streams/stream-registry.js';

/** The domain services the API adapts. */
export interface BosunServices {
  readonly runs: RunService;
  readonly queue: ExecutionQueue;
  readonly monitor: MonitorService;
  /** Whether the store takes writes (healthReport's `store`). */
  readonly store: StoreHealthSource;
  /** The calls of external runs on their live sandboxes; absent, those fields answer UNAVAILABLE. */
  readonly external?: ExternalRunApi;
  /** Runs' kept artifacts (`AgentRun.artifacts`, the download route); absent: no run has any. */
  readonly artifacts?: ArtifactSource;
  /** The warm pool's state per image kept warm (healthReport's `warmPool`); empty when it is off. */
  readonly warmPool: { status(): readonly WarmPoolStatus[] };
  /**
   * Where subscriptions listen: in cluster mode, the cluster-wide views of the run service's and the
   * monitor's events (every node's runs); absent, the services' own events (one node is all there is).
   */
  readonly views?: EventViews;
  /** Cluster mode: the roll of nodes and the cluster's advice, and the scope of forwarded requests; absent embedded. */
  readonly cluster?: ClusterView;
}

/** What the API and the server see of the cluster this node is part of (src/cluster/cluster-node.ts). */
export interface ClusterView {
  /** `healthReport.nodes`. */
  nodes(): Promise<readonly NodeHealth[]>;
  /** `concurrencyAdvice.cluster`. */
  advice(): Promise<ClusterConcurrencyAdvice>;
  /**
   * Runs the handling of one HTTP request; when another node forwarded it (its `x-bosun-forwarded`
   * header), calls on runs made meanwhile are served on this node and never forwarded again.
   */
  handleRequest<T>(headers: IncomingHttpHeaders, handle: () => T): T;
}

/** The event sources subscriptions follow, when they are not the services' own. */
export interface EventViews {
  readonly runs: RunService['events'];
  readonly monitor: MonitorService['events'];
}

/** The run events a subscription follows: the cluster-wide view, else the run service's own. */
export function runEvents(services: Pick<BosunServices, 'runs' | 'views'>): RunService['events'] {
  return services.views?.runs ?? services.runs.events;
}

/** The monitor events a subscription follows: the cluster-wide view, else the monitor's own. */
export function monitorEvents(services: Pick<BosunServices, 'monitor' | 'views'>): MonitorService['events'] {
  return services.views?.monitor ?? services.monitor.events;
}

/**
 * What the API calls on external runs (implemented by {@link ExternalRunService}; in a cluster by
 * NodeForwarding, which serves each call where its run is, so `idleSince` may have to ask another
 * node: it takes the run's `node` and may answer later).
 */
export interface ExternalRunApi extends Pick<
  ExternalRunService,
  'exec' | 'writeFiles' | 'uploadArchive' | 'readFile' | 'listFiles' | 'readArchive' | 'finish'
> {
  idleSince(runId: string, node?: string | null): Date | null | Promise<Date | null>;
}

/** `admin` may do everything; `read` may run queries and subscriptions only. */
export type CallerRole = 'admin' | 'read';

/**
 * Who is calling, as far as bosun's access rules and per-caller limits care. Defined here, with
 * the context that carries it, so that the server (which authenticates callers, src/server/auth.ts)
 * imports the API and never the other way round.
 */
export interface Caller {
  readonly role: CallerRole;
  /**
   * What per-caller limits count against: the token (`token:api`, `token:read`), or, with
   * authentication off, one key for everyone (`anonymous`): on loopback every caller is the same
   * principal, and a per-address key would let 127.0.0.2 (and the rest of 127/8) start anew.
   */
  readonly key: string;
}

/** The GraphQL context value (yoga adds its own request fields next to these). */
export interface BosunContext {
  readonly services: BosunServices;
  /** Tracks every open subscription stream so that the server can end them on close. */
  readonly streams: StreamRegistry;
  /** Who runs the operation; the server sets it for every operation. */
  readonly caller?: Caller;
  /**
   * Spends one start (startAgent, retryAgent) of the caller's allowance, naming the operation.
   * @throws BosunError RATE_LIMITED past START_RATE_PER_MINUTE.
   */
  readonly admitStart?: (operation: string) => void;
  /** Aborts when the HTTP client of the operation goes away (absent over graphql-ws). */
  readonly signal?: AbortSignal;
}
