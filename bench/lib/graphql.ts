/**
 * The parent's GraphQL clients: POST over HTTP (keep-alive through fetch), and graphql-ws with
 * the real client library, as a user's tool would use them.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export async function gql<T = Record<string, unknown>>(url: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown };
  if (!response.ok || body.errors !== undefined || body.data == null) {
    throw new Error(`GraphQL call failed (HTTP ${response.status}): ${JSON.stringify(body.errors ?? body)}`);
  }
  return body.data;
}

export const START_AGENT = /* GraphQL */ `
  mutation Start($input: StartAgentInput!) {
    startAgent(input: $input) {
      agentId
      status
    }
  }
`;

export function startInput(steps: readonly string[], group = 'bench'): Record<string, unknown> {
  return { input: { group: { id: group, name: group }, config: { steps } } };
}

export const FINAL_STATUSES = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT']);

export function wsClient(wsUrl: string): Client {
  return createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
}

/** Runs one operation (query or mutation) over graphql-ws and resolves with its data. */
export function wsRequest<T = Record<string, unknown>>(client: Client, query: string, variables?: Record<string, unknown>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let result: T | undefined;
    client.subscribe<T>(
      { query, ...(variables === undefined ? {} : { variables }) },
      {
        next: (value) => {
          if (value.errors) reject(new Error(JSON.stringify(value.errors)));
          else result = value.data as T;
        },
        error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
        complete: () => (result === undefined ? reject(new Error('no result')) : resolve(result)),
      },
    );
  });
}

/**
 * Follows every run's updates (`agentRunUpdated` without an id) and resolves, per run id, when
 * the run reaches a final status — with the time (performance.now()) the final update arrived.
 */
export class RunWatcher {
  private readonly finals = new Map<string, { status: string; at: number }>();
  private readonly waiters = new Map<string, (final: { status: string; at: number }) => void>();
  private readonly dispose: () => void;
  readonly ready: Promise<void>;

  constructor(client: Client) {
    let markReady: () => void = () => {};
    this.ready = new Promise((resolve) => (markReady = resolve));
    this.dispose = client.subscribe<{ agentRunUpdated: { id: string; status: string } }>(
      { query: 'subscription { agentRunUpdated { id status } }' },
      {
        next: ({ data }) => {
          const at = performance.now();
          const run = data?.agentRunUpdated;
          if (!run || !FINAL_STATUSES.has(run.status)) return;
          const final = { status: run.status, at };
          this.finals.set(run.id, final);
          this.waiters.get(run.id)?.(final);
          this.waiters.delete(run.id);
        },
        error: () => undefined,
        complete: () => undefined,
      },
    );
    // graphql-ws gives no "subscribed" acknowledgement: the server has the subscription once the
    // connection is acknowledged and one round trip more has passed (see `connected` below).
    client.on('connected', () => markReady());
  }

  final(id: string, timeoutMs = 60_000): Promise<{ status: string; at: number }> {
    const known = this.finals.get(id);
    if (known) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`run ${id} not final within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.set(id, (final) => {
        clearTimeout(timer);
        resolve(final);
      });
    });
  }

  close(): void {
    this.dispose();
  }
}
