/**
 * The bosun HTTP server: graphql-yoga on node:http at /graphql (POST, GET, subscriptions over
 * SSE, the bundled GraphiQL), graphql-ws on the same port and path, yoga's /health,
 * Prometheus metrics at /metrics, and the live dashboard at / (its files under /dashboard/).
 * The server owns everything it starts — sockets, subscription streams, metric listeners — and
 * {@link BosunServer.close} releases all of it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createYoga } from 'graphql-yoga';
import type { Registry } from 'prom-client';
import type { BosunConfig } from '../config.js';
import { useDashboard } from '../dashboard/dashboard-routes.js';
import { StreamRegistry } from '../resolvers/stream-registry.js';
import { buildSchema } from '../schema/build-schema.js';
import type { BosunContext, BosunServices } from '../schema/context.js';
import { graphiqlOptions, renderBundledGraphiQL } from './graphiql.js';
import { attachGraphQLWs } from './graphql-ws.js';
import { maskBosunError } from './mask-error.js';
import { createMetrics, useMetricsEndpoint } from './metrics.js';
import { toYogaLogger, type ServerLogger } from './server-logger.js';

export const GRAPHQL_PATH = '/graphql';
export const METRICS_PATH = '/metrics';
export const HEALTH_PATH = '/health';

export interface CreateBosunServerOptions {
  /** Where to listen (`PORT` 0 picks a free port). The whole BosunConfig fits. */
  readonly config: Pick<BosunConfig, 'host' | 'port'>;
  readonly services: BosunServices;
  readonly logger: ServerLogger;
  /** Where the metrics go; default a new registry (never prom-client's global one). */
  readonly registry?: Registry;
  /** How long `close()` lets WebSocket clients answer the close handshake before cutting them; default 2000. */
  readonly closeGraceMs?: number;
}

export interface BosunServer extends AsyncDisposable {
  readonly httpServer: Server;
  /** The registry that /metrics serves. */
  readonly registry: Registry;
  /** The open subscription streams (for shutdown, and for tests that check nothing leaks). */
  readonly streams: StreamRegistry;
  /** Starts listening; resolves with the GraphQL endpoint's URL. */
  listen(): Promise<{ url: string }>;
  /**
   * Ends every subscription, closes every WebSocket with 1001 (Going away), closes the HTTP server
   * and its open connections (keep-alive, SSE), and detaches the metrics. Idempotent.
   */
  close(): Promise<void>;
}

/** Builds the server; nothing listens until {@link BosunServer.listen}. */
export function createBosunServer(options: CreateBosunServerOptions): BosunServer {
  const { config, services, closeGraceMs = 2_000 } = options;
  const logger = options.logger.child({ component: 'server' });
  const streams = new StreamRegistry();
  const metrics = createMetrics(services, options.registry);
  const context: BosunContext = { services, streams };

  const yoga = createYoga({
    schema: buildSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    healthCheckEndpoint: HEALTH_PATH,
    context: () => context,
    maskedErrors: { maskError: maskBosunError },
    logging: toYogaLogger(logger),
    graphiql: graphiqlOptions(),
    renderGraphiQL: renderBundledGraphiQL,
    landingPage: false,
    plugins: [useDashboard(), useMetricsEndpoint(metrics.registry, METRICS_PATH)],
  });

  const httpServer = createServer(yoga);
  const ws = attachGraphQLWs({ httpServer, yoga, path: GRAPHQL_PATH, logger });

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
      metrics.dispose();
      await yoga.dispose();
      logger.info({}, 'server closed');
    })();
    return closing;
  };

  return {
    httpServer,
    registry: metrics.registry,
    streams,
    listen() {
      return new Promise((resolve, reject) => {
        const onError = (error: Error): void => reject(error);
        httpServer.once('error', onError);
        httpServer.listen(config.port, config.host, () => {
          httpServer.off('error', onError);
          const url = endpointUrl(httpServer.address() as AddressInfo);
          logger.info({ url }, 'server listening');
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
