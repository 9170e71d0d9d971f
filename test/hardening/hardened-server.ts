/**
 * The real server over the fakes, on port 0, with any access settings (tokens, origins,
 * connection and rate limits), plus small raw clients for what the usual helpers hide: a
 * WebSocket handshake's HTTP answer, and a graphql-ws client that sends connectionParams.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createBosunServer, type BosunServer, type BosunServerConfig } from '../../src/server/create-server.js';
import { createFakeServices, type FakeServices } from '../helpers/fake-services.js';
import { createTestLogger, type TestLogger } from '../helpers/test-logger.js';

/** 24 characters: long enough for config's 16-character minimum. */
export const API_TOKEN = 'api-token-0123456789abcdef';
export const READ_TOKEN = 'read-token-0123456789abcdef';

export interface HardenedServer extends AsyncDisposable {
  readonly server: BosunServer;
  readonly services: FakeServices;
  readonly logger: TestLogger;
  readonly origin: string;
  readonly url: string;
  readonly wsUrl: string;
  close(): Promise<void>;
}

export async function startHardenedServer(
  config: Partial<BosunServerConfig> = {},
  options: { readonly services?: FakeServices; readonly wsKeepAliveMs?: number } = {},
): Promise<HardenedServer> {
  const services = options.services ?? createFakeServices();
  const logger = createTestLogger();
  const server = createBosunServer({
    config: { host: '127.0.0.1', port: 0, ...config },
    services,
    logger,
    closeGraceMs: 300,
    ...(options.wsKeepAliveMs === undefined ? {} : { wsKeepAliveMs: options.wsKeepAliveMs }),
  });
  const { url } = await server.listen();
  const close = (): Promise<void> => server.close();
  return {
    server,
    services,
    logger,
    origin: new URL(url).origin,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A GraphQL error as bosun sends it (the fields these tests read). */
export interface GraphQLErrorBody {
  readonly message: string;
  readonly path?: readonly (string | number)[];
  readonly extensions?: { readonly code?: string; readonly field?: string; readonly [key: string]: unknown };
}

/** A GraphQL result as JSON: over HTTP, in a graphql-ws `next` message, or in an SSE event. */
export interface GraphQLBody<T = Record<string, unknown>> {
  readonly data?: T | null;
  readonly errors?: readonly GraphQLErrorBody[];
}

/** Parses a GraphQL result from JSON text; throws with the text when it is not JSON. */
export function parseGraphQL<T = Record<string, unknown>>(text: string): GraphQLBody<T> {
  try {
    return JSON.parse(text) as GraphQLBody<T>;
  } catch {
    throw new Error(`expected a GraphQL result as JSON, got: ${text.slice(0, 300)}`);
  }
}

/**
 * POSTs an operation as JSON with extra headers; resolves with the status, headers and parsed
 * body (an answer that is not JSON fails the call: every GraphQL answer bosun sends is JSON).
 */
export async function post<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: GraphQLBody<T> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, headers: response.headers, body: parseGraphQL<T>(await response.text()) };
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** The outcome of a WebSocket handshake: `open` (then closed again), or the HTTP answer that refused it. */
export type Handshake = { readonly open: true } | { readonly open: false; readonly status: number; readonly body: string };

/** Tries a WebSocket handshake (graphql-transport-ws) with the given headers. */
export function handshake(wsUrl: string, headers: Record<string, string> = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsUrl, 'graphql-transport-ws', { headers });
    socket.once('open', () => {
      socket.close();
      resolve({ open: true });
    });
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ open: false, status: response.statusCode ?? 0, body }));
    });
    socket.once('error', (error) => {
      if (socket.readyState !== WebSocket.CLOSED) reject(error);
    });
  });
}

/**
 * A raw HTTP request (for headers fetch will not let a test set, such as Host), optionally from
 * another local address (`localAddress: '127.0.0.2'`).
 */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; localAddress?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const init = {
      method: options.method ?? 'GET',
      headers: options.headers,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    };
    const request = httpRequest(url, init, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('error', reject);
    request.end(options.body);
  });
}

/**
 * Writes `text` as it is on a new TCP connection to the server of `url` and resolves with all the
 * server sends until it closes the connection (requests that http.request would refuse to send:
 * a malformed Host or target).
 */
export function rawExchange(url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.once('close', () => resolve(answer));
    socket.once('error', reject);
    socket.write(text);
  });
}

/** A graphql-ws client with `connectionParams`, no retries; `closed` resolves with the first close. */
export function wsClient(
  wsUrl: string,
  connectionParams?: Record<string, unknown>,
): { client: Client; closed: Promise<{ code: number; reason: string }> } {
  let onClosed: (event: { code: number; reason: string }) => void = () => {};
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (onClosed = resolve));
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    ...(connectionParams === undefined ? {} : { connectionParams }),
    on: {
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        onClosed({ code, reason: String(reason) });
      },
    },
  });
  return { client, closed };
}

/** Runs one operation over graphql-ws and collects its results; rejects with the operation's errors or a close. */
export async function wsRun<T = Record<string, unknown>>(
  client: Client,
  query: string,
  variables?: Record<string, unknown>,
): Promise<GraphQLBody<T>[]> {
  const results: GraphQLBody<T>[] = [];
  for await (const result of client.iterate<T>({ query, ...(variables ? { variables } : {}) })) results.push(result);
  return results;
}
