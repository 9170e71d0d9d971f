/**
 * The logger the server needs — the project's structural {@link Logger}, so that this layer does
 * not depend on pino — and the adapter that gives yoga that logger.
 */
import type { YogaLogger } from 'graphql-yoga';
import type { Logger } from '../logger.js';
import { findBosunError } from './mask-error.js';

/** The server's logger: src/logger.ts's one structural Logger (the name is kept for its importers). */
export type ServerLogger = Logger;

type Level = 'debug' | 'info' | 'warn' | 'error';

/**
 * Yoga's logger on top of ours. Yoga logs every error it masks at `error`; errors that carry a
 * BosunError code are expected outcomes reported to the client (bad input, not found), so they go
 * to `debug` instead.
 */
export function toYogaLogger(logger: ServerLogger): YogaLogger {
  const write =
    (level: Level) =>
    (...args: unknown[]): void => {
      const [first, ...rest] = args;
      const text = rest.map((part) => (typeof part === 'string' ? part : safeString(part))).join(' ');
      if (first instanceof Error) {
        const expected = level === 'error' && findBosunError(first) !== undefined;
        logger[expected ? 'debug' : level]({ err: first }, text || first.message);
      } else if (typeof first === 'string') {
        logger[level]({}, text ? `${first} ${text}` : first);
      } else {
        logger[level]({ data: first }, text);
      }
    };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/** JSON for an object, String() for the rest and for an object JSON cannot write. */
function safeString(value: unknown): string {
  if (typeof value === 'object') {
    try {
      return JSON.stringify(value);
    } catch {
      // A cycle or a bigint: String() below.
    }
  }
  return String(value);
}
