/**
 * What the monitor needs from the container engine. The sandbox owner implements it over
 * dockerode; the monitor never talks to Docker itself, so its logic is tested with a fake.
 */
import type { ResourceStats } from '../sandbox/resource-stats.js';

export interface ContainerStatsSource {
  /**
   * A live stats stream of one container; ends when the container is gone; must stop when signal aborts.
   * (Docker's first frame has no previous CPU reading, so its CPU % is 0; an implementation may skip it.)
   */
  streamStats(containerId: string, signal: AbortSignal): AsyncIterable<ResourceStats>;
  /** Engine ping + version; throws when unreachable. */
  engineInfo(signal?: AbortSignal): Promise<{ version: string; cpus: number; memoryBytes: number }>;
  /** Container name for reports (may throw if gone). */
  containerName(containerId: string): Promise<string>;
}

/** What {@link ContainerStatsSource.engineInfo} resolves to. */
export type EngineInfo = Awaited<ReturnType<ContainerStatsSource['engineInfo']>>;
