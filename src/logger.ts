/**
 * The one logger type of bosun, and the only module that knows it is pino.
 *
 * {@link Logger} is structural: every module that logs takes this interface (or a `Pick` of it),
 * so tests can pass a plain object and nothing but this file imports pino. Structured JSON logs
 * with pino in production; readable (pino-pretty) when the output is a terminal.
 */
import { createRequire } from 'node:module';
import { pino } from 'pino';
import type PinoPretty from 'pino-pretty';
import type { LogLevel } from './config.js';

const require = createRequire(import.meta.url);

/** A pino-compatible logger: `logger.info({ some: 'fields' }, 'message')`. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  /** A logger that adds `bindings` to every line. */
  child(bindings: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Pretty-print for people; default: when stdout is a terminal. */
  readonly pretty?: boolean;
}

export function createLogger(options: LoggerOptions): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  if (!pretty) return pino({ name: 'bosun', level: options.level });
  // In this thread and synchronous, not as a pino transport: a transport's worker thread is a
  // second V8 heap (about 18 MB of idle RSS), and lines still in its queue are lost when the
  // process exits, such as the last lines of a shutdown. Loaded only for a terminal.
  const prettyStream = (require('pino-pretty') as typeof PinoPretty)({
    colorize: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    sync: true,
  });
  return pino({ name: 'bosun', level: options.level }, prettyStream);
}

/** A logger that writes nothing, for tests and tools. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
