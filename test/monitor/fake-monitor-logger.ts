/** A logger whose every level is a vitest mock, so tests can check what was logged and at which level. */
import { vi } from 'vitest';
import type { Logger } from '../../src/logger.js';

export function fakeMonitorLogger() {
  return {
    debug: vi.fn<Logger['debug']>(),
    info: vi.fn<Logger['info']>(),
    warn: vi.fn<Logger['warn']>(),
  };
}
