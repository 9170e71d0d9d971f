/**
 * How the monitor gets each watched container's figures, behind one interface so that the
 * monitor does not care which strategy feeds it:
 * - {@link StatsStreamSupervisor} (`ENGINE_STATS`): one live Docker stats stream per container,
 *   which works wherever the engine is, also over TCP;
 * - {@link CgroupFileSampler} (`CGROUP_FILES`): one timer reads every container's cgroup files
 *   directly, far cheaper, when bosun runs on the engine's host and can read them.
 */
import type { ResourceStats } from '../sandbox/resource-stats.js';

/** Where the monitor's figures come from. */
export type MonitorSource = 'CGROUP_FILES' | 'ENGINE_STATS';

/** What to do with one container's readings. */
export interface SampleSink {
  /** Each reading, in order, until the container is stopped; never after stop(). */
  readonly onStats: (stats: ResourceStats) => void;
  /** Fields added to this container's log lines (e.g. its run's id); read when a line is logged. */
  readonly logContext?: () => Readonly<Record<string, unknown>>;
}

export interface StatsSampler {
  /** The strategy: what feeds the containers it can read itself. */
  readonly source: MonitorSource;
  /**
   * Starts reading the container's figures. Returns false, changing nothing, when the container
   * is watched already.
   * @throws BosunError SHUTTING_DOWN after close().
   */
  open(containerId: string, sink: SampleSink): boolean;
  /** Stops reading the container at once; nothing is delivered after this returns. Returns whether it was watched. */
  stop(containerId: string): boolean;
  /** Whether the container's figures cannot be read now (its stream broke, its files are gone) and have not been since. */
  isBroken(containerId: string): boolean;
  /** Which source feeds the container; undefined when it is not watched. */
  sourceOf(containerId: string): MonitorSource | undefined;
  /** Containers whose figures are being read now (an open stream, open files). */
  openCount(): number;
  /** Retries every broken container now rather than at its next scheduled try. */
  reopenBroken(): void;
  /** Stops reading every container and releases everything. Idempotent. */
  close(): Promise<void>;
}
