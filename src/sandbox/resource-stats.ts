/**
 * Resource figures computed the way `docker stats` computes them: from one Docker stats frame, or
 * (through the same arithmetic, {@link cpuPercentOf} and {@link memoryWithoutCache}) from a
 * container's cgroup files read directly. Pure: no I/O, so the arithmetic has fast unit tests.
 */

/** One reading of a container's CPU, memory and pids. */
export interface ResourceStats {
  readonly at: Date;
  /** 100 = one full CPU; can exceed 100 on a multi-CPU limit, like `docker stats`. */
  readonly cpuPercent: number;
  /** Usage minus the inactive page cache, as `docker stats` shows it. */
  readonly memoryUsageBytes: number;
  readonly memoryLimitBytes: number;
  readonly memoryPercent: number;
  readonly pids: number;
  /** null when the engine reports no limit. */
  readonly pidsLimit: number | null;
}

/** The subset of Docker's stats JSON that the computation reads (cgroup v1 and v2). */
export interface DockerStatsFrame {
  readonly read?: string;
  readonly cpu_stats?: DockerCpuStats;
  readonly precpu_stats?: DockerCpuStats;
  readonly memory_stats?: {
    readonly usage?: number;
    readonly limit?: number;
    readonly stats?: Readonly<Record<string, number | undefined>>;
  };
  readonly pids_stats?: { readonly current?: number; readonly limit?: number };
}

export interface DockerCpuStats {
  readonly cpu_usage?: { readonly total_usage?: number; readonly percpu_usage?: readonly number[] | null };
  readonly system_cpu_usage?: number;
  readonly online_cpus?: number;
}

/** CPU % over the interval between the frame's `precpu_stats` and `cpu_stats`. */
export function computeCpuPercent(frame: DockerStatsFrame): number {
  const cpu = frame.cpu_stats;
  const pre = frame.precpu_stats;
  const total = cpu?.cpu_usage?.total_usage;
  const preTotal = pre?.cpu_usage?.total_usage;
  const system = cpu?.system_cpu_usage;
  const preSystem = pre?.system_cpu_usage;
  if (total === undefined || preTotal === undefined || system === undefined || preSystem === undefined) return 0;
  const onlineCpus = cpu?.online_cpus || cpu?.cpu_usage?.percpu_usage?.length || 1;
  return cpuPercentOf(total - preTotal, system - preSystem, onlineCpus);
}

/**
 * `docker stats`' CPU %: the container's CPU time over the host's (all CPUs, from /proc/stat)
 * in the same interval, times the online CPUs, × 100. 0 when either delta is not positive.
 */
export function cpuPercentOf(cpuDeltaNs: number, systemDeltaNs: number, onlineCpus: number): number {
  if (cpuDeltaNs <= 0 || systemDeltaNs <= 0) return 0;
  return (cpuDeltaNs / systemDeltaNs) * onlineCpus * 100;
}

/** Memory usage minus page cache: cgroup v1 `total_inactive_file`, v2 `inactive_file`. */
export function computeMemoryUsageBytes(frame: DockerStatsFrame): number {
  const stats = frame.memory_stats?.stats ?? {};
  return memoryWithoutCache(frame.memory_stats?.usage ?? 0, stats['total_inactive_file'] ?? stats['inactive_file'] ?? 0);
}

/** `docker stats`' memory figure: usage minus the inactive page cache, unless the cache is not below the usage. */
export function memoryWithoutCache(usageBytes: number, inactiveFileBytes: number): number {
  return inactiveFileBytes < usageBytes ? usageBytes - inactiveFileBytes : usageBytes;
}

/** A pids limit as bosun reports it: null for "no limit", which Docker reports as 0 or as the maximum uint64. */
export function pidsLimitOrNull(limit: number | undefined): number | null {
  return limit !== undefined && limit > 0 && limit < 2 ** 53 ? limit : null;
}

/** All figures of one frame; `at` is the frame's own timestamp when it has one. */
export function computeResourceStats(frame: DockerStatsFrame, now: Date = new Date()): ResourceStats {
  const memoryUsageBytes = computeMemoryUsageBytes(frame);
  const memoryLimitBytes = frame.memory_stats?.limit ?? 0;
  const read = frame.read ? new Date(frame.read) : undefined;
  return {
    at: read && Number.isFinite(read.getTime()) && read.getTime() > 0 ? read : now,
    cpuPercent: computeCpuPercent(frame),
    memoryUsageBytes,
    memoryLimitBytes,
    memoryPercent: memoryLimitBytes > 0 ? (memoryUsageBytes / memoryLimitBytes) * 100 : 0,
    pids: frame.pids_stats?.current ?? 0,
    pidsLimit: pidsLimitOrNull(frame.pids_stats?.limit),
  };
}
