/**
 * A cluster node's self-fencing (issue 17): a node that may be cut off from PostgreSQL stops
 * taking runs from the cluster's line, and takes them again once it is sure of itself.
 *
 * A node cut off from PostgreSQL but not from Redis would go on taking jobs from the shared line:
 * it cannot read or record those runs, and once its lease runs out the other nodes judge it dead
 * and end its runs INTERRUPTED. So the node holds its own share of the line paused (never the
 * cluster's line: the other nodes go on) while
 * - it has not renewed its lease for two thirds of NODE_LEASE_MS (the registry's `lease-unsure`):
 *   the other nodes may judge it dead within the last third; or
 * - its store is DEGRADED (writes fail and are retried): a run it starts could not be recorded.
 * It lifts its hold once both are fine again. Running runs go on. Its hold is one of the share's
 * holds (src/queue/pause-holds.ts): the engine guard resuming, for its own reason, does not lift it.
 *
 * Each change between fenced and not is logged once, saying why.
 */
import type { EventEmitter } from 'node:events';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { PauseHolder } from '../queue/pause-holds.js';
import type { NodeLeaseEvents } from './node-registry.js';

/** The store's health as far as the fence reads it (src/store/store-health.ts's StoreHealth). */
export interface FencedStoreReport {
  readonly status: 'OK' | 'DEGRADED';
  /** What cannot be written and why, while DEGRADED. */
  readonly error: string | null;
}

/** The node's store health: its status now, and its changes (StoreHealth's `report()` and `events`). */
export interface FencedStore {
  readonly events: EventEmitter<{ status: [FencedStoreReport] }>;
  report(): FencedStoreReport;
}

export interface NodeFenceOptions {
  /** The node's name, for the logs. */
  readonly name: string;
  /** The registry's events about this node's own lease. */
  readonly lease: EventEmitter<NodeLeaseEvents>;
  /** The node's store health: its status now, and its changes. */
  readonly store: FencedStore;
  /** The fence's hold on the node's share of the line (`PauseHolds.holder('fence')`). */
  readonly share: PauseHolder;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
  /** Wait before trying again a pause or resume of the share that failed (Redis away); default 1 s. */
  readonly retryDelayMs?: number;
}

/** Holds the node's share of the line paused while it is unsure of its lease or its store is DEGRADED. */
export class NodeFence {
  /** The lease unrenewed past two thirds of it: when it was last renewed, and the doubt's threshold. */
  #lease: { readonly renewedAt: Date; readonly doubtMs: number } | undefined;
  #storeError: string | undefined;
  /** Fenced, as last logged. */
  #fenced = false;
  /** Whether the share is held paused by the fence, as its last pause or resume that succeeded made it. */
  #held = false;
  #applying: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  /** A pause or resume of the share failed: logged once until one works. */
  #failing = false;
  #started = false;
  #closed = false;

  readonly #onUnsure = (lease: { readonly renewedAt: Date; readonly doubtMs: number }): void => {
    this.#lease = lease;
    this.#update();
  };
  readonly #onRenewed = (): void => {
    this.#lease = undefined;
    this.#update();
  };
  readonly #onStore = (report: FencedStoreReport): void => {
    this.#storeError = report.status === 'DEGRADED' ? (report.error ?? 'writes fail') : undefined;
    this.#update();
  };

  constructor(private readonly options: NodeFenceOptions) {}

  /** True while the node holds its share of the line paused (or is about to). */
  get fenced(): boolean {
    return this.#fenced;
  }

  /** Follows the lease and the store from now on (once the node joined: its lease exists). Idempotent. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    const { lease, store } = this.options;
    lease.on('lease-unsure', this.#onUnsure);
    lease.on('lease-renewed', this.#onRenewed);
    store.events.on('status', this.#onStore);
    this.#onStore(store.report());
  }

  /**
   * Stops following them; resolves once a pause or resume under way settled. The fence's hold
   * stays as it is: shutdown, which comes with this, pauses the share anyway. Idempotent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const { lease, store } = this.options;
    lease.off('lease-unsure', this.#onUnsure);
    lease.off('lease-renewed', this.#onRenewed);
    store.events.off('status', this.#onStore);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#applying;
  }

  #update(): void {
    if (this.#closed) return;
    const why = this.#why();
    const fenced = why.length > 0;
    if (fenced !== this.#fenced) {
      this.#fenced = fenced;
      const { name, logger } = this.options;
      if (fenced) {
        logger.warn(
          { node: name, lease: this.#lease, store: this.#storeError },
          `node fenced: it takes no runs from the cluster's line while ${why.join(', and ')}; its running runs go on, and the other nodes take the waiting ones`,
        );
      } else {
        logger.info({ node: name }, 'node no longer fenced: its lease is renewed and its store is OK, it takes runs from the line again');
      }
    }
    this.#apply();
  }

  #why(): string[] {
    const why: string[] = [];
    if (this.#lease !== undefined) {
      why.push(
        `its lease has not been renewed since ${this.#lease.renewedAt.toISOString()}, for more than ${this.#lease.doubtMs} ms (two thirds of NODE_LEASE_MS): PostgreSQL is away or too slow, and the other nodes may soon judge it dead`,
      );
    }
    if (this.#storeError !== undefined) why.push(`its store is DEGRADED (${this.#storeError})`);
    return why;
  }

  /** Makes the share's hold what {@link fenced} says, one call at a time; a failed call is tried again after a delay. */
  #apply(): void {
    if (this.#closed || this.#applying !== undefined || this.#retryTimer !== undefined) return;
    const hold = this.#fenced;
    if (hold === this.#held) return;
    const { share, logger, name } = this.options;
    this.#applying = (hold ? share.pause() : share.resume()).then(
      () => {
        this.#applying = undefined;
        this.#held = hold;
        this.#failing = false;
        // The state may have changed meanwhile.
        this.#apply();
      },
      (error: unknown) => {
        this.#applying = undefined;
        if (!this.#failing) {
          logger.warn(
            { err: error, node: name },
            `node fence: could not ${hold ? 'pause' : 'resume'} this node's share of the line (${errorMessage(error)}); trying again`,
          );
        }
        this.#failing = true;
        if (this.#closed) return;
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#apply();
        }, this.options.retryDelayMs ?? 1_000);
      },
    );
  }
}
