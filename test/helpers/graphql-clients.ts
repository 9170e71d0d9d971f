/**
 * Small clients for tests: GraphQL over HTTP POST, graphql-ws (the real client with `ws`), and
 * GraphQL over SSE with fetch; plus a timeout so that a missing event fails instead of hanging.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface GraphQLResponse<T = Record<string, unknown>> {
  readonly data?: T | null;
  readonly errors?: readonly { message: string; path?: readonly (string | number)[]; extensions?: Record<string, unknown> }[];
}

/** POSTs an operation; resolves with the HTTP status and the parsed body. */
export async function postGraphQL<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<{ status: number; body: GraphQLResponse<T> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as GraphQLResponse<T> };
}

/** A graphql-ws client that does not retry (a lost connection should fail the test). */
export function createWsClient(wsUrl: string, options: { onClosed?: (code: number, reason: string) => void } = {}): Client {
  return createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    on: {
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        options.onClosed?.(code, String(reason));
      },
    },
  });
}

/** Resolves with `promise`, or rejects after `ms` naming `what`. */
export async function within<T>(promise: Promise<T>, what: string, ms = 3_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The next result of a subscription iterator (or `done`), with a timeout. A subscription returns
 * nothing at its end (graphql-ws's iterator types that value `any`): `done` comes without it.
 */
export async function nextResult<R>(
  iterator: AsyncIterator<R, unknown>,
  what = 'the next subscription result',
): Promise<IteratorResult<R, undefined>> {
  const next = await within(iterator.next(), what);
  return next.done ? { done: true, value: undefined } : next;
}

/** Polls `check` until it returns true, or fails after `ms`. */
export async function eventually(check: () => boolean, what: string, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface SseEvent {
  readonly event: string;
  readonly data: string;
}

/**
 * Starts a GraphQL operation over SSE (yoga's "distinct connections" mode) and yields its events
 * (`next` with a JSON result, then `complete`). Abort `signal` to unsubscribe.
 */
export async function* sseEvents(
  url: string,
  query: string,
  variables: Record<string, unknown> | undefined,
  signal: AbortSignal,
): AsyncGenerator<SseEvent, undefined, undefined> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query, variables }),
    signal,
  });
  if (!response.ok || !response.body) throw new Error(`SSE request failed with HTTP ${response.status}`);
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = text.indexOf('\n\n')) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      }
      if (block.split('\n').every((line) => line.startsWith(':') || line === '')) continue;
      yield { event, data: data.join('\n') };
    }
  }
}
