import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { silentLogger, type MonitorLogger } from '../../src/monitor/monitor-logger.js';

describe('MonitorLogger', () => {
  it('is satisfied by a pino logger as is', () => {
    // A compile-time check as much as a runtime one: this assignment must type-check.
    const logger: MonitorLogger = pino({ level: 'silent' });
    expect(() => logger.warn({ alertId: 'a' }, 'message')).not.toThrow();
    expect(() => silentLogger.info({}, 'dropped')).not.toThrow();
  });
});
