/**
 * The entry point of the client: a connection to one bosun server, which starts external runs
 * and hands out their {@link Sandbox} once they run.
 */
import { createClient, type Client } from 'graphql-ws/client';
import { BosunClientError, RunEndedError } from './errors.js';
import { HttpTransport } from './http-transport.js';
import { AGENT_RUN, CANCEL_AGENT, START_AGENT, startAgentInput } from './operations.js';
import { waitWhileQueued } from './queue-wait.js';
import { Sandbox } from './sandbox.js';
import type { RequestOptions, RunInfo, SandboxInput } from './types.js';

/** Polling interval while a run waits, where no WebSocket is at hand. */
export const DEFAULT_POLL_INTERVAL_MS = 500;

/** A WebSocket class, as graphql-ws takes it (the global one, or the `ws` package's default export). */
export type WebSocketImplementation = unknown;

export interface BosunClientOptions {
  /** bosun's GraphQL endpoint, e.g. `http://127.0.0.1:8080/graphql` (a bare origin means its `/graphql`). */
  readonly url: string | URL;
  /** BOSUN_API_TOKEN; leave it out when bosun runs without tokens. */
  readonly token?: string;
  /** The fetch to use; default the global one. */
  readonly fetch?: typeof fetch;
  /**
   * The WebSocket class for following a run's place in line (`queuePositionChanged`); default
   * the global `WebSocket` (Node 22+). Without one (Node 20), the client polls `agentRun` every
   * `pollIntervalMs` instead; pass `(await import('ws')).default` to stream on Node 20 too.
   */
  readonly webSocketImpl?: WebSocketImplementation;
  /** How often to poll a waiting run without a WebSocket; default {@link DEFAULT_POLL_INTERVAL_MS}. */
  readonly pollIntervalMs?: number;
  /** Headers added to every HTTP request (e.g. for a proxy in front of bosun). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** What {@link BosunClient.sandbox} takes besides the run's input. */
export interface SandboxOptions extends RequestOptions {
  /**
   * Called with the run's place in line (1 = next to start) when it has to wait, and each time
   * that changes; never called for a run that starts at once.
   */
  readonly onPosition?: (position: number) => void;
}

/**
 * A client of one bosun server. It holds a WebSocket only while a run waits in line;
 * {@link close} (or `await using`) closes those.
 *
 * ```ts
 * const bosun = new BosunClient({ url: 'http://127.0.0.1:8080/graphql', token });
 * await using sb = await bosun.sandbox({ group: { id: 'ci-42', name: 'CI 42' } }, { onPosition: (p) => console.log(`#${p} in line`) });
 * const { stdout } = await sb.exec('ls /workspace');
 * await sb.finish(0);
 * ```
 */
export class BosunClient implements AsyncDisposable {
  private readonly transport: HttpTransport;
  private readonly options: BosunClientOptions;
  /** The graphql-ws clients of the waits in progress (one each, see queue-wait.ts). */
  private readonly webSockets = new Set<Client>();

  constructor(options: BosunClientOptions) {
    this.options = options;
    this.transport = new HttpTransport(options);
  }

  /** The GraphQL endpoint the client talks to. */
  get url(): string {
    return this.transport.endpoint.href;
  }

  /**
   * Starts an external run and resolves with its sandbox once the run is RUNNING (it may take
   * calls from then on: calls made while its set-up steps run wait for them). While the run
   * waits in line, `onPosition` hears its position.
   *
   * If the run ends before it starts (cancelled, timed out in line), this rejects with
   * {@link RunEndedError}. If `signal` aborts or the wait fails while the run waits, the run is
   * cancelled (it would otherwise take a slot with nobody to drive it) and this rejects with the
   * signal's reason or the error.
   */
  async sandbox(input: SandboxInput, options: SandboxOptions = {}): Promise<Sandbox> {
    const { signal } = options;
    const data = await this.transport.request<{ startAgent: { queue: { position: number }; run: RunInfo } }>(
      START_AGENT,
      { input: startAgentInput(input) },
      signal,
    );
    const { run, queue } = data.startAgent;
    let current = run;
    if (current.status === 'QUEUED') {
      try {
        current = await waitWhileQueued(
          {
            openWebSocket: () => this.openWebSocket(),
            readRun: (id, readSignal) => this.run(id, { ...(readSignal === undefined ? {} : { signal: readSignal }) }),
            pollIntervalMs: this.options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
          },
          run.id,
          queue.position,
          { onPosition: options.onPosition, signal },
        );
      } catch (error) {
        await this.transport.request(CANCEL_AGENT, { id: run.id }).catch(() => undefined);
        throw error;
      }
    }
    if (current.status !== 'RUNNING') throw new RunEndedError(current);
    return new Sandbox(run.id, this.transport);
  }

  /** The sandbox of a run started elsewhere (by its id), without checking or waiting. */
  attach(agentId: string): Sandbox {
    return new Sandbox(agentId, this.transport);
  }

  /** A run by its id. @throws BosunClientError NOT_FOUND when there is none. */
  async run(agentId: string, options: RequestOptions = {}): Promise<RunInfo> {
    const data = await this.transport.request<{ agentRun: RunInfo | null }>(AGENT_RUN, { id: agentId }, options.signal);
    if (data.agentRun === null) throw new BosunClientError('NOT_FOUND', `run ${agentId} does not exist (any more)`);
    return data.agentRun;
  }

  /**
   * Sends any GraphQL operation over HTTP and resolves with its data; for what the typed methods
   * do not cover (see bosun's schema.graphql).
   */
  request<T = Record<string, unknown>>(query: string, variables: Record<string, unknown> = {}, options: RequestOptions = {}): Promise<T> {
    return this.transport.request<T>(query, variables, options.signal);
  }

  /**
   * Closes the WebSockets of runs still waiting in line (their waits go on by polling).
   * Sandboxes handed out stay usable: they use HTTP.
   */
  async close(): Promise<void> {
    const clients = [...this.webSockets];
    this.webSockets.clear();
    await Promise.all(clients.map(async (client) => client.dispose()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** A graphql-ws client for one wait, disposed of by it; undefined without a WebSocket class. */
  private openWebSocket(): Client | undefined {
    const impl = this.options.webSocketImpl ?? (globalThis as { WebSocket?: unknown }).WebSocket;
    if (impl === undefined) return undefined;
    const authorization = this.transport.authorization;
    const client = createClient({
      url: this.transport.webSocketUrl,
      webSocketImpl: impl,
      lazy: true,
      retryAttempts: 2,
      ...(authorization === undefined ? {} : { connectionParams: { authorization } }),
    });
    this.webSockets.add(client);
    return {
      ...client,
      dispose: async () => {
        this.webSockets.delete(client);
        await client.dispose();
      },
    };
  }
}

/** `new BosunClient(options)`. */
export function createBosunClient(options: BosunClientOptions): BosunClient {
  return new BosunClient(options);
}
