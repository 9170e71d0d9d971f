/**
 * The one logger type of bosun, and the only module that knows it is pino.
 *
 * {@link Logger} is structural: every module that logs takes this interface (or a `Pick` of it),
 * so tests can pass a plain object and nothing but this file imports pino. Structured JSON logs
 * with pino in production; readable (pino-pretty) when the output is a terminal.
 */
import { pino } from 'pino';
import type { LogLevel } from './config.js';

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
  return pino({
    name: 'bosun',
    level: options.level,
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  });
}

/** A logger that writes nothing, for tests and tools. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
