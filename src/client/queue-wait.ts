/**
 * Waiting for a queued run to leave the line, reporting its position as it moves: over graphql-ws
 * (`queuePositionChanged`, which sends the position now, then every change, and completes once the
 * run is RUNNING or final), or, where there is no WebSocket (Node 20 without the `ws` package) or
 * the socket cannot be opened, by polling `agentRun`.
 */
import type { Client, Sink } from 'graphql-ws/client';
import { delay } from '../shared/deadline.js';
import { BosunClientError, type GraphQLErrorShape } from './errors.js';
import { QUEUE_POSITION } from './operations.js';
import type { AgentStatus, RunInfo } from './types.js';

export interface QueueWaitOptions {
  /** Called with the run's place in line (1 = next) each time it changes while the run waits. */
  readonly onPosition?: ((position: number) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface QueueWaitDependencies {
  /**
   * A graphql-ws client of the wait's own, which the wait disposes of, or undefined when there
   * is no WebSocket (then polling). Not shared: graphql-ws 6's client counts an operation's end
   * twice when its `complete` crosses the caller's unsubscribe, and then closes a shared socket
   * under the other operations (enisdenjo/graphql-ws#66, #170).
   */
  readonly openWebSocket: () => Client | undefined;
  /** Reads the run (`agentRun`). */
  readonly readRun: (id: string, signal?: AbortSignal) => Promise<RunInfo>;
  readonly pollIntervalMs: number;
}

/**
 * Resolves with the run once it is no longer QUEUED (RUNNING, or final when it ended in line).
 * Rejects with the signal's reason when it aborts, or a {@link BosunClientError}.
 */
export async function waitWhileQueued(
  dependencies: QueueWaitDependencies,
  id: string,
  firstPosition: number,
  options: QueueWaitOptions = {},
): Promise<RunInfo> {
  const { signal } = options;
  let reported: number | undefined;
  const report = (position: number): void => {
    if (position === reported || position <= 0) return;
    reported = position;
    options.onPosition?.(position);
  };
  report(firstPosition);
  const client = dependencies.openWebSocket();
  if (client !== undefined) {
    try {
      const status = await followPosition(client, id, report, signal);
      // The stream's last status says where the run went; the run itself says the rest.
      if (status !== 'QUEUED') {
        const run = await dependencies.readRun(id, signal);
        if (run.status !== 'QUEUED') return run;
      }
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      // A socket that cannot be opened (a proxy without WebSocket, a refused upgrade) is no
      // reason to give up: polling tells the same. Errors bosun answered are.
      if (!(error instanceof BosunClientError) || error.code !== 'NETWORK_ERROR') throw error;
    } finally {
      await client.dispose();
    }
  }
  for (;;) {
    const run = await dependencies.readRun(id, signal);
    if (run.status !== 'QUEUED') return run;
    report(run.position);
    if ((await delay(dependencies.pollIntervalMs, signal === undefined ? [] : [signal])) === 'interrupted') throw signal?.reason;
  }
}

interface PositionUpdate {
  readonly queuePositionChanged: { readonly position: number; readonly status: AgentStatus };
}

/** Follows `queuePositionChanged` to its end; resolves with the last status it gave. */
function followPosition(client: Client, id: string, report: (position: number) => void, signal: AbortSignal | undefined): Promise<AgentStatus> {
  return new Promise<AgentStatus>((resolve, reject) => {
    let status: AgentStatus = 'QUEUED';
    let settled = false;
    // Set once subscribed; a holder, because settling may come before (an aborted signal).
    const subscription: { unsubscribe?: () => void } = {};
    const settle = (done: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      subscription.unsubscribe?.();
      done();
    };
    const onAbort = (): void => settle(() => reject(signal?.reason as Error));
    const sink: Sink<{ data?: PositionUpdate | null; errors?: readonly GraphQLErrorShape[] }> = {
      next: (result) => {
        if (result.errors !== undefined && result.errors.length > 0) {
          const errors = result.errors;
          settle(() => reject(graphQLError(errors)));
          return;
        }
        const update = result.data?.queuePositionChanged;
        if (!update) return;
        status = update.status;
        if (update.status === 'QUEUED') report(update.position);
        else settle(() => resolve(update.status));
      },
      error: (error: unknown) => settle(() => reject(socketError(error))),
      complete: () => settle(() => resolve(status)),
    };
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    subscription.unsubscribe = client.subscribe({ query: QUEUE_POSITION, variables: { id } }, sink);
    if (settled) subscription.unsubscribe();
  });
}

function graphQLError(errors: readonly GraphQLErrorShape[]): BosunClientError {
  const code = errors[0]?.extensions?.['code'];
  return new BosunClientError(typeof code === 'string' ? code : 'BAD_RESPONSE', errors[0]?.message ?? 'subscription failed', { errors });
}

/** What graphql-ws hands its sink's `error`: GraphQL errors, a close event, or an Error. */
function socketError(error: unknown): BosunClientError {
  if (Array.isArray(error)) return graphQLError(error);
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'number') {
    const { code, reason } = error as { code: number; reason?: string };
    if (code === 4403) return new BosunClientError('UNAUTHENTICATED', `bosun closed the WebSocket: ${reason || 'forbidden'}`);
    return new BosunClientError('NETWORK_ERROR', `the WebSocket to bosun closed (${code}${reason ? ` ${reason}` : ''})`);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new BosunClientError('NETWORK_ERROR', `the WebSocket to bosun failed: ${message}`, { cause: error });
}
