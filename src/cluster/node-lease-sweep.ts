/**
 * The lease sweep (issue 17): each node looks, every tenth of the lease, for nodes that died
 * without leaving, and hands each death to `onExpired` (which ends the dead node's running runs
 * INTERRUPTED, naming the node) through {@link NodeRegistry.claimExpired}, so that one node of
 * the cluster handles it, once. A handler that fails leaves the death unhandled: the next pass,
 * on this node or another, tries again.
 *
 * A pass never throws: a store that is away is logged once per outage, as the heartbeat's is.
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { NodeHealth, NodeRegistry } from './node-registry.js';

export interface NodeLeaseSweepOptions {
  readonly registry: Pick<NodeRegistry, 'leaseMs' | 'expiredNodes' | 'claimExpired'>;
  /**
   * Handles one dead node's death: ends its running runs INTERRUPTED with the node named in
   * `error`. Runs once per death cluster-wide; `signal` aborts when the sweep closes.
   */
  readonly onExpired: (node: NodeHealth, signal: AbortSignal) => Promise<void>;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /**
   * Between two passes; default a tenth of the registry's lease. A death is seen a lease after
   * the dead node's last heartbeat, and handled within one more interval: short, so that the
   * runs end close to NODE_LEASE_MS after the death. A pass is one read of a table of a row a node.
   */
  readonly intervalMs?: number;
}

export class NodeLeaseSweep {
  readonly intervalMs: number;
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #pass: Promise<unknown> | undefined;
  #started = false;
  /** The last pass failed: logged once until one works again. */
  #failing = false;

  constructor(private readonly options: NodeLeaseSweepOptions) {
    this.intervalMs = options.intervalMs ?? Math.max(1, Math.floor(options.registry.leaseMs / 10));
  }

  /** Starts the passes (the first one an interval from now: a node judges only once it has beaten for a lease). */
  start(): void {
    if (this.#started || this.#abort.signal.aborted) return;
    this.#started = true;
    this.schedule();
  }

  /**
   * One pass now: claims every expired node and handles the ones this node won.
   * @returns the names of the nodes whose death this node handled.
   */
  async sweep(): Promise<string[]> {
    const signal = this.#abort.signal;
    const handled: string[] = [];
    let failure: unknown;
    try {
      for (const node of await this.options.registry.expiredNodes()) {
        if (signal.aborted) break;
        try {
          const result = await this.options.registry.claimExpired(node.name, this.options.onExpired, signal);
          if (result.claimed) {
            handled.push(node.name);
            this.options.logger.info(
              { node: node.name, instanceId: node.instanceId },
              `lease sweep: node "${node.name}" died without leaving; its runs were handled`,
            );
          }
        } catch (error) {
          // One node's failure does not keep the others waiting.
          failure ??= error;
        }
      }
    } catch (error) {
      failure = error;
    }
    if (failure !== undefined && !signal.aborted) {
      if (!this.#failing) {
        this.options.logger.warn(
          { err: failure },
          `lease sweep: a pass failed (${errorMessage(failure)}); it is tried again every ${this.intervalMs} ms`,
        );
      }
      this.#failing = true;
    } else if (failure === undefined && this.#failing) {
      this.#failing = false;
      this.options.logger.info({}, 'lease sweep: passes work again');
    }
    return handled;
  }

  /** Stops the passes and aborts a handler in flight; resolves once the pass in flight ended. Idempotent. */
  async close(): Promise<void> {
    this.#abort.abort(new Error('the lease sweep was closed'));
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#pass;
  }

  private schedule(): void {
    if (this.#abort.signal.aborted) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pass = this.sweep().finally(() => {
        this.#pass = undefined;
        this.schedule();
      });
    }, this.intervalMs);
  }
}
