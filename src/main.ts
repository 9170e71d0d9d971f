/**
 * `npm start`: reads the config, starts bosun, and shuts it down cleanly on SIGINT / SIGTERM.
 * (scripts/setup.sh, run by `npm start` first, ensures the Docker engine and the sandbox image.)
 * A config or database that cannot be used stops start-up with one line on stderr and exit 1.
 * The process guard (src/process-guard.ts) is installed here and only here.
 */
import { createApp, type BosunApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { installProcessGuard } from './process-guard.js';
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

  let app: BosunApp | undefined;
  let stopping = false;
  /** Shuts down once (a second call, e.g. a second signal, exits at once) and exits with `code`. */
  const shutDown = (code: number, graceMs?: number) => {
    if (stopping) {
      process.exit(1);
    }
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
    app = createApp(config, { logger });
  } catch (error) {
    if (error instanceof DatabaseOpenError) {
      process.stderr.write(`bosun: ${error.message}\n`);
      process.exit(1);
    }
    logger.error({ err: error }, 'bosun could not start');
    process.exit(1);
  }

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) logger.warn({ signal }, 'second signal: exiting at once');
    else logger.info({ signal }, 'signal received');
    shutDown(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

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
