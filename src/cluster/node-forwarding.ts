/**
 * In a cluster, the calls that need a run's sandbox — `exec`, the file calls, archive downloads,
 * `finishAgent`, `cancelAgent` — run on the node that holds it. {@link NodeForwarding} is the
 * {@link ExternalRuns} the API is given there (cancel has its own entry, {@link NodeForwarding.cancelOn}):
 * each call asks `locate` where the run is, serves it on this node's own service when here (or
 * when the run runs nowhere: queued,
 * finished, unknown, which this node's service answers as any node would), and otherwise sends it
 * to the owner's public API ({@link RemoteNode}), forwarding the caller's signal: a caller that
 * goes away ends the remote call (and so the remote command).
 *
 * Loop safety: a forwarded request carries {@link FORWARDED_HEADER}, and is never forwarded
 * again. The receiving node must handle each HTTP request inside {@link NodeForwarding.handleRequest}
 * (which reads the header): calls made while a forwarded request is handled are served here,
 * and when this node sees the run elsewhere (the nodes disagree for a moment, e.g. during a
 * lease take-over) the call is refused UNAVAILABLE rather than bounced on.
 *
 * The wiring (src/cluster/cluster-node.ts, src/app.ts, the server) plugs it in:
 * - `services.external = forwarding` (it has the API's `idleSince` too, answered locally);
 * - `cancelAgent` on a run that runs elsewhere reaches {@link NodeForwarding.cancelOn} (the run
 *   service's `cancelElsewhere`);
 * - the node's HTTP handler runs `forwarding.handleRequest(req.headers, () => yoga(req, res))`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingHttpHeaders } from 'node:http';
import { BosunError } from '../errors.js';
import { withDeadline } from '../shared/deadline.js';
import type { AgentRun } from '../runs/agent-run.js';
import type { ExecOptionsInput } from '../runs/external/exec-inputs.js';
import { RunHeldElsewhere } from '../runs/external/external-run-service.js';
import type { ExternalRuns, FileContent } from '../runs/external/external-runs.js';
import type { ExecOutcome } from '../runs/external/external-session.js';
import type { FileInput } from '../runs/external/file-inputs.js';
import type { ReopenableBytes, SandboxFileInfo } from '../sandbox/sandbox.js';
import { FORWARDED_HEADER, RemoteNode, type NodeAddress } from './remote-node.js';

export { FORWARDED_HEADER, type NodeAddress } from './remote-node.js';

/** How long an owner's answer of `idleSince` is reused. */
const IDLE_CACHE_MS = 1_000;
/** Bounds the cache: the runs running elsewhere that are read within a second. */
const IDLE_CACHE_MAX_RUNS = 10_000;
/** How long an owner may take to answer `idleSince`. */
const IDLE_ASK_TIMEOUT_MS = 5_000;

/** This node's external run service, as the API uses it (ExternalRunService). */
export interface LocalExternalRuns extends ExternalRuns {
  /** Since when a run held here has had no call in flight. */
  idleSince(runId: string): Date | null;
}

export interface NodeForwardingOptions {
  /** This node's name (BOSUN_NODE_NAME), sent with every forwarded request. */
  readonly nodeName: string;
  /**
   * The node that holds a run's sandbox; undefined when this node holds it or the run is not
   * running anywhere. A rejection fails the call as it is.
   */
  readonly locate: (runId: string) => Promise<NodeAddress | undefined>;
  /** The calls on this node's own sandboxes. */
  readonly local: LocalExternalRuns;
  /** The run as the store reads it, for what `finish` and `cancel` answer after the owner did them. */
  readonly readRun: (runId: string) => Promise<AgentRun | undefined>;
  /** The cluster's BOSUN_API_TOKEN (every node has the same); none when the nodes run without tokens. */
  readonly apiToken?: string | undefined;
  /** Default the global fetch. */
  readonly fetch?: typeof fetch | undefined;
}

/** The name of the node that forwarded a request (its {@link FORWARDED_HEADER}), or undefined for a request that was not forwarded. */
export function forwardedBy(headers: Headers | IncomingHttpHeaders): string | undefined {
  const raw = headers instanceof Headers ? headers.get(FORWARDED_HEADER) : headers[FORWARDED_HEADER];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value === null) return undefined;
  try {
    return decodeURIComponent(value) || 'an unnamed node';
  } catch {
    return value;
  }
}

/** The external-run calls and cancel, each served on the node that holds the run (see the module comment). */
export class NodeForwarding implements ExternalRuns {
  /** The forwarding node's name while a forwarded request is handled. */
  private readonly forwarded = new AsyncLocalStorage<string>();
  /** The owners' answers of `idleSince` for runs held elsewhere, each for {@link IDLE_CACHE_MS}. */
  private readonly idleCache = new Map<string, { readonly at: number; readonly value: Promise<Date | null> }>();

  constructor(private readonly options: NodeForwardingOptions) {}

  /**
   * Runs `handle` (the handling of one HTTP request); when `headers` say the request was
   * forwarded, every call of this object made meanwhile is served on this node only.
   */
  handleRequest<T>(headers: Headers | IncomingHttpHeaders, handle: () => T): T {
    const from = forwardedBy(headers);
    return from === undefined ? handle() : this.forwarded.run(from, handle);
  }

  exec(runId: string, command: string, options?: ExecOptionsInput | null, signal?: AbortSignal): Promise<ExecOutcome> {
    return this.route(
      runId,
      () => this.options.local.exec(runId, command, options, signal),
      (owner) => owner.exec(runId, command, options, signal),
    );
  }

  writeFiles(runId: string, files: readonly FileInput[], signal?: AbortSignal): Promise<SandboxFileInfo[]> {
    return this.route(
      runId,
      () => this.options.local.writeFiles(runId, files, signal),
      (owner) => owner.writeFiles(runId, files, signal),
    );
  }

  uploadArchive(runId: string, archive: ReopenableBytes, path: string | null | undefined, signal?: AbortSignal): Promise<SandboxFileInfo[]> {
    return this.route(
      runId,
      () => this.options.local.uploadArchive(runId, archive, path, signal),
      (owner) => owner.uploadArchive(runId, archive, path, signal),
    );
  }

  readFile(runId: string, path: string, signal?: AbortSignal): Promise<FileContent> {
    return this.route(
      runId,
      () => this.options.local.readFile(runId, path, signal),
      (owner) => owner.readFile(runId, path, signal),
    );
  }

  listFiles(runId: string, path: string, signal?: AbortSignal): Promise<SandboxFileInfo[]> {
    return this.route(
      runId,
      () => this.options.local.listFiles(runId, path, signal),
      (owner) => owner.listFiles(runId, path, signal),
    );
  }

  readArchive(runId: string, path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    return this.route(
      runId,
      () => this.options.local.readArchive(runId, path, signal),
      (owner) => owner.readArchive(runId, path, signal),
    );
  }

  finish(runId: string, exitCode: number, error: string | null | undefined, signal?: AbortSignal): Promise<AgentRun> {
    return this.route(
      runId,
      () => this.options.local.finish(runId, exitCode, error, signal),
      async (owner) => {
        await owner.finish(runId, exitCode, error, signal);
        return this.readRun(runId);
      },
    );
  }

  /**
   * Cancels a run on `owner`, the node the run service found running it (its cancel's seam,
   * `AgentRunServiceOptions.cancelElsewhere`), and answers the run as the store then reads it.
   * The owner answers once the run is stopped; one that does not within `timeoutMs` (stalled,
   * say, while its socket still takes connections) is given up on.
   * Never routed anew: a cancel is started on this node first, which finds the owner itself.
   * @throws BosunError UNAVAILABLE when this request was itself forwarded (the nodes disagree), or
   *   the owner does not answer; the owner's refusal with its code.
   */
  async cancelOn(owner: NodeAddress, runId: string, timeoutMs: number): Promise<AgentRun> {
    this.refuseForwarded(runId, owner);
    await withDeadline((signal) => this.remote(owner).cancel(runId, signal), {
      timeoutMs,
      onTimeout: () =>
        new BosunError('UNAVAILABLE', `node ${owner.name} (${owner.url}), which runs run ${runId}, did not answer the cancel within ${timeoutMs} ms`),
    });
    return this.readRun(runId);
  }

  /**
   * Since when a run has had no call in flight: its session's, on the node that holds it. A run
   * held elsewhere is asked of its owner, at most once a second per run (a dashboard's every
   * update of a run would otherwise be a request to another node); `node` is the run's `node`,
   * when the caller has it, so that runs of this node cost no lookup.
   */
  idleSince(runId: string, node?: string | null): Date | null | Promise<Date | null> {
    // A forwarded request (or a client that says it is one) is answered here, never refused: a
    // subscription's result may be shared with other subscribers, who must not see its error.
    const here = node === undefined || node === null || node === this.options.nodeName || this.forwarded.getStore() !== undefined;
    if (here) return this.options.local.idleSince(runId);
    const now = Date.now();
    const cached = this.idleCache.get(runId);
    if (cached !== undefined && now - cached.at < IDLE_CACHE_MS) return cached.value;
    if (this.idleCache.size >= IDLE_CACHE_MAX_RUNS) {
      for (const [id, entry] of this.idleCache) if (now - entry.at >= IDLE_CACHE_MS) this.idleCache.delete(id);
      // Still full: runs enough to fill it are asked anew each time rather than held without bound.
      if (this.idleCache.size >= IDLE_CACHE_MAX_RUNS) this.idleCache.clear();
    }
    // An owner that cannot be asked (no BOSUN_NODE_URL, away, slow) answers null, "not known to
    // be idle", for the second: a field read by every dashboard update is no place for its error.
    const value = this.route(
      runId,
      () => Promise.resolve(this.options.local.idleSince(runId)),
      (owner) => owner.idleSince(runId, AbortSignal.timeout(IDLE_ASK_TIMEOUT_MS)),
    ).catch(() => null);
    this.idleCache.set(runId, { at: now, value });
    return value;
  }

  private async route<T>(runId: string, local: () => Promise<T>, remote: (owner: RemoteNode) => Promise<T>): Promise<T> {
    let owner = await this.options.locate(runId);
    if (owner === undefined || owner.name === this.options.nodeName) {
      try {
        return await local();
      } catch (error) {
        // The run started on another node since it was located: sent on once, as if located there.
        if (!(error instanceof RunHeldElsewhere)) throw error;
        owner = await this.options.locate(runId);
        if (owner === undefined || owner.name === this.options.nodeName) throw error;
      }
    }
    this.refuseForwarded(runId, owner);
    return remote(this.remote(owner));
  }

  /** Loop safety: a request another node forwarded here is never sent on (see the module comment). */
  private refuseForwarded(runId: string, owner: NodeAddress): void {
    const from = this.forwarded.getStore();
    if (from === undefined) return;
    throw new BosunError(
      'UNAVAILABLE',
      `run ${runId} was forwarded to node ${this.options.nodeName} by node ${from}, but node ${this.options.nodeName} sees it held by node ${owner.name} (${owner.url}); a forwarded call is not forwarded again: retry once the nodes agree where the run is`,
    );
  }

  private remote(owner: NodeAddress): RemoteNode {
    return new RemoteNode({ node: owner, from: this.options.nodeName, apiToken: this.options.apiToken, fetch: this.options.fetch });
  }

  private async readRun(runId: string): Promise<AgentRun> {
    const run = await this.options.readRun(runId);
    if (!run) throw new BosunError('NOT_FOUND', `agentId: no agent run with id ${JSON.stringify(runId)}`, { field: 'agentId' });
    return run;
  }
}
