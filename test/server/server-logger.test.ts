import { GraphQLError } from 'graphql';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BosunError } from '../../src/errors.js';
import { toYogaLogger, type ServerLogger } from '../../src/server/server-logger.js';
import { createTestLogger } from '../helpers/test-logger.js';

describe('server logger', () => {
  it('accepts a pino logger as it is', () => {
    const logger: ServerLogger = pino({ level: 'silent' });
    expect(() => logger.child({ component: 'server' }).info({ a: 1 }, 'hello')).not.toThrow();
  });

  it('gives yoga our logger, with expected (coded) errors demoted to debug', () => {
    const logger = createTestLogger();
    const yoga = toYogaLogger(logger);
    const coded = new GraphQLError('no such run', { originalError: new BosunError('NOT_FOUND', 'no such run') });
    yoga.error(coded);
    yoga.error(new Error('boom'));
    yoga.debug('Processing GraphQL Parameters', 'extra');
    yoga.warn({ some: 'thing' });
    expect(logger.entries.map((entry) => [entry.level, entry.msg])).toEqual([
      ['debug', 'no such run'],
      ['error', 'boom'],
      ['debug', 'Processing GraphQL Parameters extra'],
      ['warn', ''],
    ]);
    expect(logger.entries[1]?.fields['err']).toBeInstanceOf(Error);
  });
});
