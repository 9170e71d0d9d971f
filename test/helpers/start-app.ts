/**
 * Starts the whole bosun service as `npm start` builds it (the real Docker engine, queue,
 * monitor and server) on a free port, with a unique instance id, and disposes of it: every
 * container it created must be gone afterwards.
 */
import { createApp, type BosunApp } from '../../src/app.js';
import { loadConfig, type BosunConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDocker, removeLeftovers, testInstanceId } from './docker.js';

export interface TestApp extends AsyncDisposable {
  readonly app: BosunApp;
  /** http://127.0.0.1:PORT/graphql */
  readonly url: string;
  /** ws://127.0.0.1:PORT/graphql */
  readonly wsUrl: string;
  /** http://127.0.0.1:PORT */
  readonly origin: string;
  /**
   * Closes the app (running runs get `graceMs`, default 0); resolves with the number of its
   * containers that had to be force-removed afterwards (0 expected).
   */
  close(graceMs?: number): Promise<number>;
}

/**
 * The configuration of a test app: loopback on a free port, an in-memory database, a unique
 * instance id, small limits, no warm pool; `env` overrides or adds variables as the real service
 * takes them.
 */
export function testAppConfig(env: Record<string, string> = {}): { readonly config: BosunConfig; readonly instanceId: string } {
  const instanceId = testInstanceId();
  const config = loadConfig({
    PORT: '0',
    BOSUN_DB_PATH: ':memory:',
    HOST: '127.0.0.1',
    BOSUN_INSTANCE_ID: instanceId,
    DOCKER_MEMORY_LIMIT: '256m',
    STOP_GRACE_MS: '1000',
    HEALTH_CHECK_INTERVAL_MS: '1000',
    // Off unless a test asks for it (test/sandbox/warm-pool*.docker.test.ts do): the other tests
    // count the instance's containers and sandbox creations, which a pool would add to.
    WARM_POOL_SIZE: '0',
    LOG_LEVEL: process.env['BOSUN_TEST_LOGS'] === '1' ? 'debug' : 'silent',
    ...(process.env['DOCKER_HOST'] ? { DOCKER_HOST: process.env['DOCKER_HOST'] } : {}),
    ...env,
  });
  return { config, instanceId };
}

/** `env` takes the same variables as the real service (e.g. `{ MAX_CONCURRENT_AGENTS: '1' }`). */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const { config, instanceId } = testAppConfig(env);
  const app = createApp(config, { logger: createLogger({ level: config.logLevel, pretty: false }) });
  const { url } = await app.start();
  const close = async (graceMs = 0) => {
    await app.close(graceMs);
    return removeLeftovers(createTestDocker(), instanceId);
  };
  return {
    app,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    origin: new URL(url).origin,
    close,
    [Symbol.asyncDispose]: async () => {
      await close();
    },
  };
}

/**
 * Counts the sandboxes the app's run service asks for from now on (a refused start must ask for
 * none); the returned function reads the count.
 */
export function countSandboxCreations(test: TestApp): () => number {
  let created = 0;
  const sandboxes = test.app.sandboxes;
  const create = sandboxes.create.bind(sandboxes);
  sandboxes.create = (options) => {
    created += 1;
    return create(options);
  };
  return () => created;
}
