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
 * the run reaches a final status — with the time (performance.now()) the final update arrived —
 * or, through {@link reached}, when an update with a given status first arrived.
 */
export class RunWatcher {
  /** The first arrival per `${id} ${status}`, and per `${id} final` for the final one. */
  private readonly seen = new Map<string, { status: string; at: number }>();
  private readonly waiters = new Map<string, (seen: { status: string; at: number }) => void>();
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
          if (!run) return;
          this.record(`${run.id} ${run.status}`, { status: run.status, at });
          if (FINAL_STATUSES.has(run.status)) this.record(`${run.id} final`, { status: run.status, at });
        },
        error: () => undefined,
        complete: () => undefined,
      },
    );
    // graphql-ws gives no "subscribed" acknowledgement: the server has the subscription once the
    // connection is acknowledged and one round trip more has passed (see `connected` below).
    client.on('connected', () => markReady());
  }

  private record(key: string, seen: { status: string; at: number }): void {
    if (this.seen.has(key)) return;
    this.seen.set(key, seen);
    this.waiters.get(key)?.(seen);
    this.waiters.delete(key);
  }

  final(id: string, timeoutMs = 60_000): Promise<{ status: string; at: number }> {
    return this.wait(`${id} final`, `run ${id} not final within ${timeoutMs} ms`, timeoutMs);
  }

  /** When an update of run `id` with `status` first arrived (already, or within `timeoutMs`). */
  reached(id: string, status: string, timeoutMs = 60_000): Promise<{ status: string; at: number }> {
    return this.wait(`${id} ${status}`, `run ${id} not ${status} within ${timeoutMs} ms`, timeoutMs);
  }

  /** The first arrival of `key` if it came already, without waiting. */
  arrived(id: string, status: string): { status: string; at: number } | undefined {
    return this.seen.get(`${id} ${status}`);
  }

  private wait(key: string, message: string, timeoutMs: number): Promise<{ status: string; at: number }> {
    const known = this.seen.get(key);
    if (known) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(message));
      }, timeoutMs);
      this.waiters.set(key, (seen) => {
        clearTimeout(timer);
        resolve(seen);
      });
    });
  }

  close(): void {
    this.dispose();
  }
}
