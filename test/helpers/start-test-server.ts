/**
 * Starts the real bosun server on a free port for a test, with the in-memory fakes by default or
 * with any services (the real ones for end-to-end tests), and disposes of it afterwards:
 *
 *   await using test = await startTestServer();
 *   // or: const test = await startTestServer({ services }); afterEach(() => test.close());
 */
import type { Registry } from 'prom-client';
import type { BosunServices } from '../../src/api/context.js';
import { createBosunServer, type BosunServer } from '../../src/server/create-server.js';
import type { ServerLogger } from '../../src/server/server-logger.js';
import { createFakeServices, type FakeServices } from './fake-services.js';
import { createTestLogger } from './test-logger.js';

export interface StartTestServerOptions<S extends BosunServices> {
  readonly services?: S;
  readonly registry?: Registry;
  readonly logger?: ServerLogger;
  readonly closeGraceMs?: number;
}

export interface TestServer<S extends BosunServices> extends AsyncDisposable {
  readonly server: BosunServer;
  readonly services: S;
  readonly logger: ServerLogger;
  /** http://127.0.0.1:PORT — for /health, /metrics. */
  readonly origin: string;
  /** The GraphQL endpoint over HTTP. */
  readonly url: string;
  /** The GraphQL endpoint over WebSocket (graphql-ws). */
  readonly wsUrl: string;
  close(): Promise<void>;
}

export function startTestServer(options?: StartTestServerOptions<FakeServices>): Promise<TestServer<FakeServices>>;
export function startTestServer<S extends BosunServices>(options: StartTestServerOptions<S> & { readonly services: S }): Promise<TestServer<S>>;
export async function startTestServer(options: StartTestServerOptions<BosunServices> = {}): Promise<TestServer<BosunServices>> {
  const services = options.services ?? createFakeServices();
  const logger = options.logger ?? createTestLogger();
  const server = createBosunServer({
    config: { host: '127.0.0.1', port: 0 },
    services,
    logger,
    ...(options.registry ? { registry: options.registry } : {}),
    closeGraceMs: options.closeGraceMs ?? 500,
  });
  const { url } = await server.listen();
  const origin = new URL(url).origin;
  const close = (): Promise<void> => server.close();
  return {
    server,
    services,
    logger,
    origin,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    close,
    [Symbol.asyncDispose]: close,
  };
}
