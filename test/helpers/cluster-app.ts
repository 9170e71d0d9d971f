/**
 * Cluster nodes in the test's own process, built as main.ts builds one (openClusterBackends, then
 * createApp), and the emptying of the cluster's stores between tests. (test/helpers/cluster-nodes.ts
 * runs nodes as child processes instead.)
 */
import { Redis } from 'ioredis';
import type { AppBackends } from '../../src/app-backends.js';
import { createApp, type BosunApp } from '../../src/app.js';
import { openClusterBackends } from '../../src/cluster-backends.js';
import { createLogger } from '../../src/logger.js';
import { freePort } from './child-server.js';
import { testAppConfig } from './start-app.js';
import { createTestLogger, type LogEntry } from './test-logger.js';

/** A node whose backends are open (its worker takes jobs, which wait) and whose app is built, not started. */
export interface OpenedClusterApp {
  readonly instanceId: string;
  readonly backends: AppBackends;
  readonly app: BosunApp;
}

/**
 * Opens node `name` with the test app's config and `env` (REDIS_URL, BOSUN_DB_URL, NODE_LEASE_MS and
 * the like), on a port of its own that it names as its BOSUN_NODE_URL (forwarded calls reach it
 * there). `logged`: its log entries go there (instead of the test's log level) when given.
 */
export async function openClusterApp(name: string, env: Record<string, string>, logged?: LogEntry[]): Promise<OpenedClusterApp> {
  const port = await freePort();
  const { config, instanceId } = testAppConfig({
    BOSUN_NODE_NAME: name,
    PORT: String(port),
    BOSUN_NODE_URL: `http://127.0.0.1:${port}`,
    ...env,
  });
  const logger =
    logged === undefined ? createLogger({ level: config.logLevel, pretty: false }).child({ node: name }) : createTestLogger({ node: name }, logged);
  const backends = await openClusterBackends({ ...config, cluster: config.cluster! }, { logger });
  return { instanceId, backends, app: createApp(config, { logger, backends }) };
}

/**
 * What the next test starts on: an empty history (runs, logs, the roll of nodes) and a new line (the
 * next nodes set the cluster's limit: a running cluster keeps the one it has).
 */
export async function emptyClusterStores(stores: { readonly redisUrl: string; readonly databaseUrl: string }): Promise<void> {
  const { PostgresDatabase } = await import('../../src/store/postgres/pg-database.js');
  const db = await PostgresDatabase.open({ url: stores.databaseUrl, logger: createLogger({ level: 'silent' }) });
  try {
    await db.query('TRUNCATE runs, logs, nodes CASCADE');
  } finally {
    await db.close();
  }
  const connection = new Redis(stores.redisUrl);
  try {
    await connection.flushall();
  } finally {
    connection.disconnect();
  }
}
