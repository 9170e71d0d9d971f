/**
 * Chooses how the monitor reads containers' figures (see stats-sampler.ts): their cgroup files
 * when the engine is reached through a local unix socket and this host's cgroup hierarchy can be
 * read, else the engine's stats streams (an engine over TCP is on another host, as far as bosun
 * can tell). Even with the files, a container they cannot be found for gets its stream.
 */
import type { Logger } from '../logger.js';
import { CgroupFileSampler } from './cgroup-file-sampler.js';
import { CgroupLayout, type CgroupLayoutOptions, type CgroupPlacement } from './cgroup-layout.js';
import type { ContainerStatsSource } from './container-stats-source.js';
import type { StatsSampler } from './stats-sampler.js';
import { StatsStreamSupervisor } from './stats-stream-supervisor.js';

export interface CreateStatsSamplerOptions {
  /** Whether the engine is reached through a unix socket, so that it runs on this host. */
  readonly engineIsLocal: boolean;
  /** The engine's stats streams, and where it says a container is. */
  readonly source: Pick<ContainerStatsSource, 'streamStats'> & {
    cgroupPlacement(containerId: string, signal: AbortSignal): Promise<CgroupPlacement>;
  };
  /** How often each container's files are read (the monitor's sample interval). */
  readonly intervalMs: number;
  readonly logger: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** Longest wait before reopening a broken stats stream. */
  readonly streamRetryMaxDelayMs?: number;
  /** Where the cgroup and proc file systems are; default the standard places. */
  readonly layout?: CgroupLayoutOptions;
}

export function createStatsSampler(options: CreateStatsSamplerOptions): StatsSampler {
  const { source, logger } = options;
  const streams = new StatsStreamSupervisor({ source, logger, retryMaxDelayMs: options.streamRetryMaxDelayMs });
  const layout = options.engineIsLocal ? CgroupLayout.detect(options.layout) : null;
  if (layout === null) {
    logger.info(
      { monitorSource: streams.source },
      options.engineIsLocal
        ? 'monitor: the cgroup files cannot be read here; containers are read through the engine’s stats streams'
        : 'monitor: the engine is remote; containers are read through its stats streams',
    );
    return streams;
  }
  const sampler = new CgroupFileSampler({
    layout,
    placement: (containerId, signal) => source.cgroupPlacement(containerId, signal),
    fallback: streams,
    intervalMs: options.intervalMs,
    logger,
  });
  logger.info({ monitorSource: sampler.source, cgroupVersion: layout.version }, 'monitor: containers are read from their cgroup files');
  return sampler;
}
