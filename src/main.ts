/**
 * bosun's entry point (`npm start` runs its build, `node dist/main.js`): reads the config, starts
 * bosun, and shuts it down cleanly on SIGINT / SIGTERM. (scripts/start.sh, run by `npm start`,
 * first ensures Node.js, the dependencies, the build, the Docker engine and the sandbox image.)
 * A config or database that cannot be used stops start-up with one line on stderr and exit 1.
 * The process guards (src/process-guard.ts) are installed here and only here.
 */
import type { AppBackends } from './app-backends.js';
import { createApp, type BosunApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { installProcessGuard, installStopSignals } from './process-guard.js';
import { DatabaseOpenError } from './store/database.js';

/** After a fatal fault, how long the clean shutdown may take beyond SHUTDOWN_GRACE_MS before the process exits anyway. */
const FATAL_SHUTDOWN_EXTRA_MS = 30_000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`bosun: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  let backends: AppBackends | undefined;
  if (config.cluster !== undefined) {
    // Loaded only in cluster mode: an embedded bosun never loads the cluster's libraries.
    const { ClusterOpenError, openClusterBackends } = await import('./cluster-backends.js');
    try {
      backends = await openClusterBackends({ ...config, cluster: config.cluster }, { logger });
    } catch (error) {
      if (error instanceof ClusterOpenError) {
        process.stderr.write(`bosun: ${error.message}\n`);
        process.exit(1);
      }
      throw error;
    }
  }

  let app: BosunApp | undefined;
  let stopping = false;
  /** Shuts down once and exits with `code`; a later call (a signal during a fatal shutdown) changes nothing. */
  const shutDown = (code: number, graceMs?: number) => {
    if (stopping) return;
    stopping = true;
    (app?.close(graceMs) ?? Promise.resolve()).then(
      () => process.exit(code),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  installProcessGuard(process, {
    logger,
    onFatal: () => {
      setTimeout(() => process.exit(1), config.shutdownGraceMs + FATAL_SHUTDOWN_EXTRA_MS).unref();
      shutDown(1);
    },
    exitNow: () => process.exit(1),
  });

  try {
    app = createApp(config, {
      logger,
      ...(backends === undefined ? {} : { backends }),
      // The cluster judged this node dead and ended its runs: it stops, and its restart reaps what it left.
      onNodeLost: () => shutDown(1),
    });
  } catch (error) {
    if (error instanceof DatabaseOpenError) {
      process.stderr.write(`bosun: ${error.message}\n`);
      process.exit(1);
    }
    logger.error({ err: error }, 'bosun could not start');
    process.exit(1);
  }

  installStopSignals(process, {
    logger,
    onStop: () => shutDown(0),
    exitNow: () => process.exit(1),
  });

  try {
    const { url } = await app.start();
    logger.info({ url }, `GraphiQL: ${url}`);
    if (process.stdout.isTTY) process.stdout.write(`\n  bosun is up. GraphiQL: ${url}\n\n`);
  } catch (error) {
    logger.error({ err: error }, 'bosun could not start');
    await app.close();
    process.exit(1);
  }
}

void main();
