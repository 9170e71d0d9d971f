/**
 * `npm start`: reads the config, starts bosun, and shuts it down cleanly on SIGINT / SIGTERM.
 * (scripts/setup.sh, run by `npm start` first, ensures the Docker engine and the sandbox image.)
 */
import { createApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';

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
  const app = createApp(config, { logger });

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'signal received');
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
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
