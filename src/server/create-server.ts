/**
 * The bosun HTTP server: graphql-yoga on node:http at /graphql (POST, GET, subscriptions over
 * SSE, the bundled GraphiQL), graphql-ws on the same port and path, yoga's /health,
 * Prometheus metrics at /metrics, runs' artifacts at /runs/{agentId}/artifacts/{path}
 * (artifact-routes.ts), tar downloads from external runs' sandboxes at /runs/{agentId}/archive
 * (archive-route.ts), and the live dashboard at / (its files under /dashboard/).
 * The server owns everything it starts — sockets, subscription streams, metric listeners — and
 * {@link BosunServer.close} releases all of it.
 *
 * Hardening, in the order a request meets it:
 * - Any request: a Host header and request target that parse, else 400 with one line
 *   (request-target.ts; yoga would answer 500 with a stack trace).
 * - WebSocket upgrades: path, origin (ALLOWED_ORIGINS), loopback Host without tokens
 *   (ws-upgrade.ts); at most MAX_PENDING_WS_PER_ADDRESS sockets per address waiting for
 *   `connection_init`, which must come within 3 s and carry the token (graphql-ws.ts); only then
 *   does a socket take one of the MAX_WS_CONNECTIONS streaming slots (streaming-slots.ts).
 * - HTTP: the dashboard's files, /health and GraphiQL's page are open; everything else (/graphql,
 *   /metrics, artifact downloads) needs `Authorization: Bearer <token>` when BOSUN_API_TOKEN is set (401), or a
 *   loopback Host when it is not (http-access.ts); CORS only for allowed origins
 *   (origin-policy.ts); form and text/plain POSTs and GET subscriptions need the x-graphql-csrf
 *   header, GET queries do not (csrf.ts); bodies over 1 MiB get 413 before they are parsed, but
 *   for uploadArchive's multipart requests, streamed to disk up to UPLOAD_MAX_BYTES
 *   (request-bodies.ts, multipart-upload.ts); bodies and `variables` that are not JSON get 400
 *   without internals (graphql-params.ts); HTML pages cannot be framed (frame-protection.ts).
 * - Every document: a syntax error is GRAPHQL_PARSE_FAILED (HTTP 400) on every transport, whoever
 *   parsed it first (parse-errors.ts).
 * - Every operation: graphql-armor's depth, alias, directive, token and cost limits
 *   (query-limits.ts); argument errors coded BAD_USER_INPUT (mask-error.ts); a read token runs no
 *   mutation (operation-access.ts, 403); startAgent and retryAgent at most
 *   START_RATE_PER_MINUTE per caller (rate-limiter.ts, RATE_LIMITED).
 * - Streamed results (SSE) take a streaming slot like WebSockets, and are cut when their client
 *   leaves more than 8 MiB unread (http-streams.ts).
 * - Subscriptions, over graphql-ws and SSE alike: an event is executed once per distinct
 *   operation (document, variables, caller's role), not once per subscriber
 *   (shared-subscription-execution.ts).
 * - Refusals a client can cause at will are logged as at most one line per 10 s (log-summary.ts).
 */
import { nativeSignal } from '../shared/deadline.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createYoga } from 'graphql-yoga';
import type { Registry } from 'prom-client';
import type { WebSocketServer } from 'ws';
import type { BosunConfig } from '../config.js';
import { useDashboard } from '../dashboard/dashboard-routes.js';
import { BosunError } from '../errors.js';
import { StreamRegistry } from '../api/streams/stream-registry.js';
import { buildSchema } from '../api/build-schema.js';
import type { BosunContext, BosunServices } from '../api/context.js';
import { TokenAuth, bearerToken, type Caller } from './auth.js';
import { useArtifactDownloads } from './artifact-routes.js';
import { useCsrfPrevention } from './csrf.js';
import { useFrameProtection } from './frame-protection.js';
import { createGraphiQLRenderer, graphiqlOptions } from './graphiql.js';
import { useGraphQLParamErrors } from './graphql-params.js';
import { attachGraphQLWs } from './graphql-ws.js';
import { useHttpAccess } from './http-access.js';
import { useHttpStreams } from './http-streams.js';
import { LogSummary } from './log-summary.js';
import { isLoopbackHost } from '../shared/loopback.js';
import { maskBosunError, toGraphQLError, useArgumentErrorCodes } from './mask-error.js';
import { useArchiveRoute } from './archive-route.js';
import { UploadSpool } from './multipart-upload.js';
import { isGraphqlMultipart, useRequestBodies } from './request-bodies.js';
import { createMetrics, useMetricsEndpoint } from './metrics.js';
import { useOperationAccess } from './operation-access.js';
import { useParseErrorCodes } from './parse-errors.js';
import { OriginPolicy } from './origin-policy.js';
import { useQueryLimits } from './query-limits.js';
import { createStartGate } from './rate-limiter.js';
import { useSharedSubscriptionExecution } from './shared-subscription-execution.js';
import { limitRequestBody } from './request-body-limit.js';
import { malformedRequestReason, sendErrorResponse } from './request-target.js';
import { MAX_REQUEST_BYTES } from './server-limits.js';
import { toYogaLogger, type ServerLogger } from './server-logger.js';
import { StreamingSlots } from './streaming-slots.js';

export const GRAPHQL_PATH = '/graphql';
export const METRICS_PATH = '/metrics';
export const HEALTH_PATH = '/health';
/** UPLOAD_MAX_BYTES' default. */
const DEFAULT_UPLOAD_MAX_BYTES = 100 * 1024 * 1024;

/** The settings the server reads; the whole BosunConfig fits. */
export type BosunServerConfig = Pick<BosunConfig, 'host' | 'port'> &
  Partial<
    Pick<
      BosunConfig,
      'apiToken' | 'readToken' | 'allowedOrigins' | 'maxWsConnections' | 'maxPendingWsPerAddress' | 'startRatePerMinute' | 'uploadMaxBytes'
    >
  >;

export interface CreateBosunServerOptions {
  /**
   * Where to listen (`PORT` 0 picks a free port) and the access settings: no token unless
   * given, same-origin only, 500 streaming connections (WebSocket and SSE), 16 WebSockets per
   * address waiting for `connection_init`, 60 starts a minute per caller.
   */
  readonly config: BosunServerConfig;
  readonly services: BosunServices;
  readonly logger: ServerLogger;
  /** Where the metrics go; default a new registry (never prom-client's global one). */
  readonly registry?: Registry;
  /** How long `close()` lets WebSocket clients answer the close handshake before cutting them; default 2000. */
  readonly closeGraceMs?: number;
  /** How often WebSocket clients are pinged, and how long a pong may take; default 12 s. */
  readonly wsKeepAliveMs?: number;
}

/** What yoga hands the context factory: HTTP requests bring `request` and node's `req`; graphql-ws operations their caller. */
interface InitialContext {
  readonly request?: Request;
  readonly req?: IncomingMessage;
  readonly bosunCaller?: Caller;
}

export interface BosunServer extends AsyncDisposable {
  readonly httpServer: Server;
  /** graphql-ws's sockets (`clients`: the open ones). */
  readonly wsServer: WebSocketServer;
  /** The registry that /metrics serves. */
  readonly registry: Registry;
  /** The open subscription streams (for shutdown, and for tests that check nothing leaks). */
  readonly streams: StreamRegistry;
  /**
   * Long-lived connections now: `streams`, the WebSockets past `connection_init` and the SSE
   * responses (at most MAX_WS_CONNECTIONS); `pending`, the WebSockets waiting for `connection_init`.
   */
  readonly connections: Pick<StreamingSlots, 'streams' | 'pending' | 'pendingOf'>;
  /** Starts listening; resolves with the GraphQL endpoint's URL. */
  listen(): Promise<{ url: string }>;
  /**
   * Ends every subscription, closes every WebSocket with 1001 (Going away), closes the HTTP server
   * and its open connections (keep-alive, SSE), and detaches the metrics. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Builds the server; nothing listens until {@link BosunServer.listen}.
 * @throws Error when `config.host` is not loopback and no token is set (config validation
 *   refuses that first; this guards other callers).
 */
export function createBosunServer(options: CreateBosunServerOptions): BosunServer {
  const { config, services, closeGraceMs = 2_000 } = options;
  const logger = options.logger.child({ component: 'server' });
  const auth = new TokenAuth({ apiToken: config.apiToken, readToken: config.readToken });
  if (!auth.enabled && !isLoopbackHost(config.host)) {
    throw new Error(`HOST=${JSON.stringify(config.host)}: expected a loopback address unless BOSUN_API_TOKEN is set`);
  }
  const origins = new OriginPolicy(config.allowedOrigins ?? []);
  const admitStart = createStartGate(config.startRatePerMinute ?? 60);
  const streams = new StreamRegistry();
  const metrics = createMetrics(services, options.registry);
  const slots = new StreamingSlots({
    maxStreams: config.maxWsConnections ?? 500,
    maxPendingPerAddress: config.maxPendingWsPerAddress ?? 16,
  });
  const refusals = new LogSummary({ logger, level: 'info', summary: 'Connections refused' });
  const uploads = new UploadSpool(config.uploadMaxBytes ?? DEFAULT_UPLOAD_MAX_BYTES);

  /**
   * The context of each caller key, made once: yoga copies it into each operation's context, and
   * there are at most three keys (anonymous, the API token, the read token).
   */
  const contexts = new Map<string, BosunContext>();
  /** Each operation's context, with its caller (HTTP requests were refused already when they have none). */
  const contextFor = (initial: InitialContext): BosunContext => {
    const caller = initial.bosunCaller ?? auth.authenticate(bearerToken(initial.request?.headers.get('authorization')));
    if (!caller) {
      const refusal = new BosunError('UNAUTHENTICATED', 'Authentication required');
      throw toGraphQLError(refusal, undefined, { status: 401, headers: { 'www-authenticate': 'Bearer realm="bosun"' } });
    }
    let context = contexts.get(caller.key);
    if (context === undefined || context.caller?.role !== caller.role) {
      context = Object.freeze({ services, streams, caller, admitStart: (operation: string) => admitStart(caller, operation) });
      contexts.set(caller.key, context);
    }
    // One context per caller, but an HTTP request's own signal (an exec ends when its client goes away).
    return initial.request ? { ...context, signal: nativeSignal(initial.request.signal) } : context;
  };

  const yoga = createYoga({
    schema: buildSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    healthCheckEndpoint: HEALTH_PATH,
    context: (initial: InitialContext) => contextFor(initial),
    maskedErrors: { maskError: maskBosunError },
    logging: toYogaLogger(logger),
    graphiql: graphiqlOptions(),
    renderGraphiQL: createGraphiQLRenderer({ tokenRequired: auth.enabled, graphqlPath: GRAPHQL_PATH }),
    landingPage: false,
    cors: origins.corsOptions(),
    // Enforced on the node request, far cheaper (request-body-limit.ts); uploadArchive's multipart
    // requests are read by useRequestBodies instead, which makes that one exception.
    maxRequestBodySize: false,
    multipart: false,
    plugins: [
      useFrameProtection(),
      useDashboard(),
      useHttpAccess(auth),
      useArchiveRoute(services, logger),
      useCsrfPrevention(GRAPHQL_PATH),
      useMetricsEndpoint(metrics.registry, METRICS_PATH),
      ...(services.artifacts ? [useArtifactDownloads(services.artifacts, logger)] : []),
      useGraphQLParamErrors(),
      useParseErrorCodes(),
      useQueryLimits(),
      useArgumentErrorCodes(),
      useOperationAccess(),
      useHttpStreams({ slots, refusals, logger }),
      useSharedSubscriptionExecution(),
      // Last: it wraps whichever request parser the plugins above chose.
      useRequestBodies({ graphqlPath: GRAPHQL_PATH, uploads }),
    ],
  });

  const httpServer = createServer((request: IncomingMessage, response: ServerResponse) => {
    // Before yoga, which cannot build a URL from these and would answer with its stack trace.
    const malformed = malformedRequestReason(request);
    if (malformed !== undefined) {
      sendErrorResponse(response, 400, 'BAD_REQUEST', malformed, { close: true });
      return;
    }
    // A request another node forwarded is served here, never forwarded again (node-forwarding.ts).
    const cluster = services.cluster;
    const serve = (): void =>
      void (cluster === undefined ? yoga(request, response) : cluster.handleRequest(request.headers, () => yoga(request, response)));
    if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') serve();
    // A multipart request to /graphql may be an upload: useRequestBodies streams it under its own limits.
    else if (isGraphqlMultipart(request, GRAPHQL_PATH)) serve();
    else limitRequestBody(request, response, MAX_REQUEST_BYTES, serve);
  });
  const ws = attachGraphQLWs({
    httpServer,
    yoga,
    path: GRAPHQL_PATH,
    logger,
    auth,
    origins,
    slots,
    refusals,
    ...(options.wsKeepAliveMs === undefined ? {} : { keepAliveMs: options.wsKeepAliveMs }),
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      logger.info({}, 'server closing');
      // No new subscriptions; open ones complete after what they have buffered.
      streams.endAll();
      const httpClosed = new Promise<void>((resolve) => {
        if (!httpServer.listening) return resolve();
        httpServer.close(() => resolve());
      });
      await ws.dispose(closeGraceMs);
      httpServer.closeAllConnections();
      await httpClosed;
      streams.closeAll();
      refusals.dispose();
      await uploads[Symbol.asyncDispose]();
      metrics.dispose();
      await yoga.dispose();
      logger.info({}, 'server closed');
    })();
    return closing;
  };

  return {
    httpServer,
    wsServer: ws.wsServer,
    registry: metrics.registry,
    streams,
    connections: slots,
    listen() {
      return new Promise((resolve, reject) => {
        const onError = (error: Error): void => reject(error);
        httpServer.once('error', onError);
        httpServer.listen(config.port, config.host, () => {
          httpServer.off('error', onError);
          const url = endpointUrl(httpServer.address() as AddressInfo);
          if (auth.enabled) {
            logger.info({ url, readToken: config.readToken !== undefined }, 'server listening; a bearer token is required');
          } else {
            logger.warn(
              { url, host: config.host },
              `server listening on ${config.host} only, without authentication (set BOSUN_API_TOKEN to require a token and to listen on other addresses)`,
            );
          }
          resolve({ url });
        });
      });
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function endpointUrl(address: AddressInfo): string {
  const unspecified = address.address === '0.0.0.0' || address.address === '::';
  const host = unspecified ? 'localhost' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}${GRAPHQL_PATH}`;
}
