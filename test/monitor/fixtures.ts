/** Shared builders for monitor unit tests. */
import type { ResourceSample } from '../../src/monitor/monitor-types.js';
import type { ResourceStats } from '../../src/sandbox/resource-stats.js';

export { THRESHOLDS } from '../helpers/fixtures.js';

export const GiB = 1024 ** 3;

/** A calm reading at `atMs` (ms since the epoch) unless overridden. */
export function stats(overrides: Partial<ResourceStats> & { atMs?: number } = {}): ResourceStats {
  const { atMs, ...rest } = overrides;
  const memoryLimitBytes = rest.memoryLimitBytes ?? 2 * GiB;
  const memoryPercent = rest.memoryPercent ?? 10;
  return {
    at: new Date(atMs ?? 1_700_000_000_000),
    cpuPercent: 5,
    memoryUsageBytes: Math.round((memoryPercent / 100) * memoryLimitBytes),
    memoryLimitBytes,
    memoryPercent,
    pids: 10,
    pidsLimit: 1000,
    ...rest,
  };
}

export function sample(containerId: string, runId: string | null, overrides: Partial<ResourceStats> & { atMs?: number } = {}): ResourceSample {
  return { ...stats(overrides), containerId, runId };
}
