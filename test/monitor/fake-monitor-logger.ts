/** A MonitorLogger whose every level is a vitest mock, so tests can check what was logged and at which level. */
import { vi } from 'vitest';
import type { MonitorLogger } from '../../src/monitor/monitor-logger.js';

export function fakeMonitorLogger() {
  return {
    debug: vi.fn<MonitorLogger['debug']>(),
    info: vi.fn<MonitorLogger['info']>(),
    warn: vi.fn<MonitorLogger['warn']>(),
  };
}
