/**
 * The `CGROUP_FILES` {@link StatsSampler}: one timer reads every watched container's cgroup files
 * (cgroup-reader.ts) once per sample interval, when bosun runs on the engine's host. It computes
 * what `docker stats` shows from the same counters the engine reads: CPU % as the container's CPU
 * time over the host's (/proc/stat) in the interval × the online CPUs, memory without the
 * inactive page cache, a memory limit above the host's memory shown as the host's memory.
 *
 * Why: a Docker stats stream per container costs bosun an HTTP stream and a 1.7 KB JSON frame to
 * parse per container per second (and the engine as much to produce); reading six small files
 * costs a few microseconds.
 *
 * A container whose files cannot be found from here (see cgroup-layout.ts) is handed to the
 * `fallback` sampler, the engine's stats stream, for as long as it is watched. A container whose
 * files vanish (it stopped) is broken until they can be read again, which every tick tries.
 */
import { availableParallelism, totalmem } from 'node:os';
import { BosunError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { cpuPercentOf, memoryWithoutCache, pidsLimitOrNull, type ResourceStats } from '../sandbox/resource-stats.js';
import { checkInteger } from '../shared/validate.js';
import type { CgroupDirs, CgroupLayout, CgroupPlacement } from './cgroup-layout.js';
import { CgroupFiles, HostCpuClock, type CgroupReading } from './cgroup-reader.js';
import { ReadingOutage, deliverReading } from './reading-outage.js';
import type { MonitorSource, SampleSink, StatsSampler } from './stats-sampler.js';

/**
 * Containers whose files stay open between readings (4 descriptors each); past them, a
 * container's files are opened and closed at each reading, so that many containers cannot use up
 * the process's file descriptors.
 */
export const MAX_CONTAINERS_KEPT_OPEN = 32;

export interface CgroupFileSamplerOptions {
  /** Where containers' files are on this host. */
  readonly layout: CgroupLayout;
  /** Asks the engine where a container is, for one the conventions do not find; without it, such a container goes to the fallback. */
  readonly placement?: (containerId: string, signal: AbortSignal) => Promise<CgroupPlacement>;
  /** Reads the containers whose files cannot be found from here. */
  readonly fallback: StatsSampler;
  /** How often every container is read. */
  readonly intervalMs: number;
  readonly logger: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** The host's CPU time; default /proc/stat's. */
  readonly hostCpu?: HostCpuClock;
  /** The engine's `online_cpus`: the CPUs the process may run on; default this process's. */
  readonly onlineCpus?: number;
  /** The host's memory, shown as the limit of a container without a lower one; default this host's. */
  readonly hostMemoryBytes?: number;
  /** Default {@link MAX_CONTAINERS_KEPT_OPEN}. */
  readonly maxContainersKeptOpen?: number;
  readonly now?: () => number;
}

/** The counters of the previous reading, which the next one's CPU % is computed against. */
interface Previous {
  readonly cpuUsageNs: number;
  /** The host's CPU time; null when /proc/stat could not be read (wall time × CPUs stands in). */
  readonly systemNs: number | null;
  readonly atMs: number;
}

interface Entry {
  readonly containerId: string;
  readonly sink: SampleSink;
  /** Aborted by stop() and close(): ends a placement lookup in flight. */
  readonly stop: AbortController;
  state: 'locating' | 'files' | 'fallback';
  files: CgroupFiles | null;
  previous: Previous | null;
  /** Since a reading failed and until one succeeds (see reading-outage.ts). */
  readonly outage: ReadingOutage;
}

export class CgroupFileSampler implements StatsSampler {
  readonly source: MonitorSource = 'CGROUP_FILES';

  private readonly layout: CgroupLayout;
  private readonly placement: CgroupFileSamplerOptions['placement'];
  private readonly fallback: StatsSampler;
  private readonly intervalMs: number;
  private readonly logger: Pick<Logger, 'debug' | 'info' | 'warn'>;
  private readonly hostCpu: HostCpuClock;
  private readonly onlineCpus: number;
  private readonly hostMemoryBytes: number;
  private readonly now: () => number;
  private readonly maxContainersKeptOpen: number;
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private keptOpen = 0;
  private toldFallback = false;
  private closed = false;

  /** @throws InvalidValueError for a bad interval. */
  constructor(options: CgroupFileSamplerOptions) {
    this.layout = options.layout;
    this.placement = options.placement;
    this.fallback = options.fallback;
    this.intervalMs = checkInteger('sampleIntervalMs', options.intervalMs, { min: 1 });
    this.logger = options.logger;
    this.hostCpu = options.hostCpu ?? new HostCpuClock();
    this.onlineCpus = options.onlineCpus ?? availableParallelism();
    this.hostMemoryBytes = options.hostMemoryBytes ?? totalmem();
    this.now = options.now ?? Date.now;
    this.maxContainersKeptOpen = options.maxContainersKeptOpen ?? MAX_CONTAINERS_KEPT_OPEN;
  }

  open(containerId: string, sink: SampleSink): boolean {
    if (this.closed) throw new BosunError('SHUTTING_DOWN', 'The cgroup file sampler is closed');
    if (this.entries.has(containerId)) return false;
    const entry: Entry = {
      containerId,
      sink,
      stop: new AbortController(),
      state: 'locating',
      files: null,
      previous: null,
      outage: new ReadingOutage(),
    };
    this.entries.set(containerId, entry);
    const dirs = this.layout.locate(containerId);
    if (dirs !== null) this.attach(entry, dirs);
    else if (this.placement === undefined) this.toFallback(entry, 'not found by convention');
    else void this.locateWithEngine(entry, this.placement);
    return true;
  }

  stop(containerId: string): boolean {
    const entry = this.entries.get(containerId);
    if (entry === undefined) return false;
    this.entries.delete(containerId);
    entry.stop.abort();
    if (entry.state === 'fallback') this.fallback.stop(containerId);
    this.release(entry);
    if (!this.hasFiles()) this.stopTimer();
    return true;
  }

  isBroken(containerId: string): boolean {
    const entry = this.entries.get(containerId);
    if (entry === undefined) return false;
    return entry.state === 'fallback' ? this.fallback.isBroken(containerId) : entry.outage.broken;
  }

  sourceOf(containerId: string): MonitorSource | undefined {
    const entry = this.entries.get(containerId);
    if (entry === undefined) return undefined;
    return entry.state === 'fallback' ? this.fallback.sourceOf(containerId) : 'CGROUP_FILES';
  }

  openCount(): number {
    let open = 0;
    for (const entry of this.entries.values()) if (entry.state === 'files' && !entry.outage.broken) open += 1;
    return open + this.fallback.openCount();
  }

  reopenBroken(): void {
    this.fallback.reopenBroken();
    // Broken files are retried at every tick anyway.
  }

  /** Reads every container now (what the timer runs once per interval). */
  sampleNow(): void {
    const systemNs = this.hostCpu.readNs();
    const atMs = this.now();
    for (const entry of [...this.entries.values()]) {
      // A sink may stop another container: only those still watched are read.
      if (entry.state === 'files' && this.entries.get(entry.containerId) === entry) this.sample(entry, systemNs, atMs);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopTimer();
    for (const entry of this.entries.values()) {
      entry.stop.abort();
      this.release(entry);
    }
    this.entries.clear();
    this.hostCpu.close();
    await this.fallback.close();
  }

  private async locateWithEngine(entry: Entry, placement: NonNullable<CgroupFileSamplerOptions['placement']>): Promise<void> {
    let dirs: CgroupDirs | null = null;
    let reason = 'not found from what the engine says of it';
    try {
      dirs = this.layout.locate(entry.containerId, await placement(entry.containerId, entry.stop.signal));
    } catch (error) {
      reason = `the engine did not say where it is: ${errorMessage(error)}`;
    }
    if (this.entries.get(entry.containerId) !== entry) return;
    if (dirs !== null) this.attach(entry, dirs);
    else this.toFallback(entry, reason);
  }

  /** Reads the container from `dirs` from now on; a first reading is the baseline of the next one's CPU %. */
  private attach(entry: Entry, dirs: CgroupDirs): void {
    const keepOpen = this.keptOpen < this.maxContainersKeptOpen;
    const files = new CgroupFiles(dirs, keepOpen);
    let reading: CgroupReading;
    try {
      reading = files.read();
    } catch (error) {
      this.toFallback(entry, `its files could not be read: ${errorMessage(error)}`);
      return;
    }
    if (keepOpen) this.keptOpen += 1;
    entry.files = files;
    entry.state = 'files';
    entry.previous = { cpuUsageNs: reading.cpuUsageNs, systemNs: this.hostCpu.readNs(), atMs: this.now() };
    this.logger.debug({ containerId: entry.containerId, ...entry.sink.logContext?.(), dir: dirs.cpu }, 'reading the container’s cgroup files');
    this.timer ??= setInterval(() => this.sampleNow(), this.intervalMs).unref();
  }

  private toFallback(entry: Entry, reason: string): void {
    entry.state = 'fallback';
    const context = { containerId: entry.containerId, ...entry.sink.logContext?.(), reason };
    const message = 'container’s cgroup files not found from here: its figures come from the engine’s stats stream';
    if (this.toldFallback) this.logger.debug(context, message);
    else this.logger.info(context, `${message} (an engine in a VM, or bosun in a container, cannot share them)`);
    this.toldFallback = true;
    this.fallback.open(entry.containerId, entry.sink);
  }

  private sample(entry: Entry, systemNs: number | null, atMs: number): void {
    let reading: CgroupReading;
    try {
      reading = entry.files!.read();
    } catch (error) {
      this.markBroken(entry, error);
      return;
    }
    const previous = entry.previous;
    entry.previous = { cpuUsageNs: reading.cpuUsageNs, systemNs, atMs };
    if (entry.outage.recover()?.warned === true) {
      this.logger.info({ containerId: entry.containerId, ...entry.sink.logContext?.() }, 'cgroup files readable again');
    }
    // The first reading after an outage is the baseline of the next.
    if (previous === null) return;
    const systemDeltaNs =
      systemNs !== null && previous.systemNs !== null ? systemNs - previous.systemNs : (atMs - previous.atMs) * 1e6 * this.onlineCpus;
    const memoryUsageBytes = memoryWithoutCache(reading.memoryUsageBytes, reading.inactiveFileBytes);
    // As the engine reports it: no limit, or one above the host's memory, is the host's memory.
    const memoryLimitBytes =
      reading.memoryLimitBytes > this.hostMemoryBytes && this.hostMemoryBytes > 0 ? this.hostMemoryBytes : reading.memoryLimitBytes;
    const stats: ResourceStats = {
      at: new Date(atMs),
      cpuPercent: cpuPercentOf(reading.cpuUsageNs - previous.cpuUsageNs, systemDeltaNs, this.onlineCpus),
      memoryUsageBytes,
      memoryLimitBytes,
      memoryPercent: memoryLimitBytes > 0 ? (memoryUsageBytes / memoryLimitBytes) * 100 : 0,
      pids: reading.pids,
      pidsLimit: pidsLimitOrNull(reading.pidsLimit ?? undefined),
    };
    deliverReading(entry.sink, stats, this.logger, entry.containerId, 'stats handler threw');
  }

  /** A reading failed: the container is broken until a reading succeeds (tried at every tick). */
  private markBroken(entry: Entry, error: unknown): void {
    const starts = entry.outage.fail();
    entry.previous = null;
    if (!starts) return;
    const context = { containerId: entry.containerId, ...entry.sink.logContext?.() };
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENODEV') {
      this.logger.debug(context, 'cgroup files gone (container stopped)');
    } else if (entry.outage.warnOnce()) {
      this.logger.warn({ ...context, error: errorMessage(error) }, 'cgroup files could not be read');
    }
  }

  private release(entry: Entry): void {
    if (entry.files === null) return;
    if (entry.files.keepsOpen) this.keptOpen -= 1;
    entry.files.close();
    entry.files = null;
  }

  private hasFiles(): boolean {
    for (const entry of this.entries.values()) if (entry.state === 'files') return true;
    return false;
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
