/**
 * The monitor: watches each sandbox container's live stats, grades them, turns them into alerts,
 * records them in the history and publishes them as events (the publishing is a
 * {@link SamplePublisher}'s); runs a periodic health check; gives concurrency advice. It observes
 * and never acts: what reacts to its events (the engine guard, autoscaling, the alert webhook) is
 * wired by the composition root.
 *
 * Built from injected parts: each container's figures come from a {@link StatsSampler} — the
 * cgroup files read directly when bosun shares the engine's host ({@link CgroupFileSampler},
 * chosen by the composition root), otherwise a {@link ContainerStatsSource}'s streams kept open by
 * a {@link StatsStreamSupervisor} (the monitor never talks to Docker itself) — and everything over
 * time goes to a {@link MonitorHistory} (the monitor keeps only each container's latest sample and
 * its open alert episodes).
 */
import { EventEmitter } from 'node:events';
import type { ResourceThresholds } from '../config.js';
import { BosunError, InvalidValueError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ExecutionQueue } from '../queue/execution-queue.js';
import type { RunServiceEvents } from '../runs/run-service.js';
import type { SandboxLimits } from '../sandbox/limits.js';
import { checkInteger } from '../shared/validate.js';
import { AlertTracker } from './alert-tracker.js';
import { adviseConcurrency, type ConcurrencyAdviceInput } from './concurrency-advice.js';
import type { ContainerStatsSource } from './container-stats-source.js';
import { EngineProbe } from './engine-probe.js';
import { gradeSample, isCpuLimit } from './health-grading.js';
import { describeHealth, summarizeHealth } from './health-summary.js';
import type { MonitorHistory } from './monitor-history.js';
import type { MonitorEvents, MonitorService, SampleQuery } from './monitor-service.js';
import { PeriodicTask } from './periodic-task.js';
import { SamplePublisher, type PublishedContainer } from './sample-publisher.js';
import type { ConcurrencyAdvice, ContainerHealth, HealthAlert, HealthReport, ResourcePeak, ResourceSample } from './monitor-types.js';
import type { MonitorSource, StatsSampler } from './stats-sampler.js';
import { StatsStreamSupervisor } from './stats-stream-supervisor.js';

/** What the monitor needs to know of a container's limits: its CPU limit, to grade CPU against it. */
export type WatchedContainerLimits = Pick<SandboxLimits, 'cpus'>;

export interface DockerMonitorOptions {
  /** Engine info, container names, and live stats streams when no `sampler` is given. */
  readonly source: ContainerStatsSource;
  /**
   * What reads each container's figures; default a {@link StatsStreamSupervisor} over `source`'s
   * streams (with the stream retry delays below). The monitor closes it.
   */
  readonly sampler?: StatsSampler;
  /** Where published samples and alerts are recorded, and runs' timelines and peaks read back. */
  readonly history: MonitorHistory;
  /** Read only: the queue's limit, which the advice compares with what the host can take. */
  readonly queue: Pick<ExecutionQueue, 'stats'>;
  /**
   * The limit the advice is about, instead of the queue's: a cluster node gives its own cap, since
   * the advice weighs this node's host and containers, not the cluster's. Default: the queue's limit.
   */
  readonly concurrencyLimit?: () => number;
  readonly logger: Pick<Logger, 'debug' | 'info' | 'warn'>;
  readonly thresholds: ResourceThresholds;
  /** Samples in a row at or above a threshold that raise an alert (and below, that recover it). */
  readonly alertConsecutiveSamples: number;
  /** At most one sample per container is published per this many milliseconds. */
  readonly sampleIntervalMs: number;
  /** The limits one run gets: the advice's estimate of a run's use before any was measured. */
  readonly perRunLimits: ConcurrencyAdviceInput['perRunLimits'];
  /** First wait before reopening a broken stats stream; doubles per failure. Default 1,000 (without `sampler`). */
  readonly streamRetryBaseDelayMs?: number;
  /** Longest wait before reopening a broken stats stream. Default 30,000. */
  readonly streamRetryMaxDelayMs?: number;
  /** Longest wait for the engine's answer (ping, container name). Default 5,000. */
  readonly engineTimeoutMs?: number;
  /** Finished runs whose peaks feed the concurrency advice, besides the running ones. Default 20. */
  readonly adviceRecentRuns?: number;
  readonly now?: () => Date;
}

/** One monitored container (what the publisher keeps on it, see sample-publisher.ts). */
interface Watch extends PublishedContainer {
  runId: string | null;
  limitCpus: number | null;
  /** Aborted on unregister and close: ends a name lookup in flight. */
  readonly stop: AbortController;
  name: string | null;
}

export class DockerMonitor implements MonitorService {
  readonly events = new EventEmitter<MonitorEvents>();

  private readonly history: MonitorHistory;
  private readonly concurrencyLimit: () => number;
  private readonly logger: Pick<Logger, 'debug' | 'info' | 'warn'>;
  private readonly thresholds: ResourceThresholds;
  private readonly perRunLimits: ConcurrencyAdviceInput['perRunLimits'];
  private readonly engine: EngineProbe;
  private readonly adviceRecentRuns: number;
  private readonly now: () => Date;
  private readonly tracker: AlertTracker;
  private readonly publisher: SamplePublisher;
  private readonly streams: StatsSampler;
  private readonly healthChecks: PeriodicTask;

  private readonly watches = new Map<string, Watch>();
  private readonly detachers = new Set<() => void>();
  private closing: Promise<void> | null = null;

  /** @throws InvalidValueError for a bad threshold, interval or count. */
  constructor(options: DockerMonitorOptions) {
    this.history = options.history;
    const queue = options.queue;
    this.concurrencyLimit = options.concurrencyLimit ?? (() => queue.stats().maxConcurrency);
    this.logger = options.logger;
    this.thresholds = options.thresholds;
    const sampleIntervalMs = checkInteger('sampleIntervalMs', options.sampleIntervalMs, { min: 1 });
    this.perRunLimits = options.perRunLimits;
    this.engine = new EngineProbe(options.source, options.engineTimeoutMs ?? 5_000);
    this.adviceRecentRuns = checkInteger('adviceRecentRuns', options.adviceRecentRuns ?? 20, { min: 0 });
    this.now = options.now ?? (() => new Date());
    // Every resourceSamples and healthAlerts subscription listens here: hundreds are normal.
    this.events.setMaxListeners(0);
    this.tracker = new AlertTracker({ thresholds: options.thresholds, consecutiveSamples: options.alertConsecutiveSamples });
    this.publisher = new SamplePublisher({
      events: this.events,
      history: this.history,
      tracker: this.tracker,
      logger: this.logger,
      sampleIntervalMs,
      now: this.now,
    });
    this.streams =
      options.sampler ??
      new StatsStreamSupervisor({
        source: options.source,
        logger: options.logger,
        retryBaseDelayMs: options.streamRetryBaseDelayMs,
        retryMaxDelayMs: options.streamRetryMaxDelayMs,
      });
    this.healthChecks = new PeriodicTask(
      (signal) => this.runHealthCheck(signal),
      (error) => this.logger.warn({ error: errorMessage(error) }, 'health check failed'),
    );
  }

  // ── Containers ──────────────────────────────────────────────────────────────────────────────

  /**
   * Starts watching a container: opens its stats stream at once. Registering a watched container
   * again changes nothing (except filling in an agent id or limits that were unknown).
   * @param limits the container's limits, when known: its CPU is then graded as a percentage of
   *   its CPU limit (a 0.5-CPU container at its quota reads 100 %); without them, on the raw
   *   `docker stats` figure (100 % = one CPU).
   * @returns whether the container was new.
   * @throws BosunError SHUTTING_DOWN after close(); InvalidValueError for an empty id or a CPU
   *   limit that is not a number above 0.
   */
  registerContainer(containerId: string, runId: string | null, limits?: WatchedContainerLimits | null): boolean {
    if (this.closing !== null) throw new BosunError('SHUTTING_DOWN', 'The monitor is closed');
    if (typeof containerId !== 'string' || containerId.trim() === '') {
      throw new InvalidValueError('a container id', containerId);
    }
    if (limits !== undefined && limits !== null && !isCpuLimit(limits.cpus)) {
      throw new InvalidValueError('the CPU limit to be a number above 0', limits.cpus);
    }
    const limitCpus = limits?.cpus ?? null;
    const known = this.watches.get(containerId);
    if (known !== undefined) {
      if (known.runId === null && runId !== null) known.runId = runId;
      if (known.limitCpus === null && limitCpus !== null) known.limitCpus = limitCpus;
      return false;
    }
    const watch: Watch = {
      containerId,
      runId,
      limitCpus,
      stop: new AbortController(),
      name: null,
      latest: null,
      checkedAt: null,
      lastPublishedAtMs: null,
    };
    this.watches.set(containerId, watch);
    this.streams.open(containerId, {
      onStats: (stats) => this.publisher.publishStats(watch, stats, this.streams.sourceOf(containerId) === 'CGROUP_FILES'),
      logContext: () => ({ runId: watch.runId }),
    });
    void this.resolveName(watch);
    return true;
  }

  /**
   * Stops watching a container: aborts its stream at once. Its history stays; its unresolved
   * alerts end with it and are published resolved.
   * @returns whether it was watched.
   */
  unregisterContainer(containerId: string): boolean {
    const watch = this.watches.get(containerId);
    if (watch === undefined) return false;
    this.watches.delete(containerId);
    watch.stop.abort();
    this.streams.stop(containerId);
    for (const alert of this.tracker.closeContainer(containerId, this.now())) this.publisher.publishAlert(alert);
    return true;
  }

  /**
   * Follows the run service: watches each run's container, graded against the run's limits, from
   * `container-started` until `container-removed`. Returns a function that stops following
   * (close() also does).
   */
  attachToRuns(events: EventEmitter<RunServiceEvents>): () => void {
    const onStarted = (event: RunServiceEvents['container-started'][0]): void => {
      if (this.closing !== null) return;
      try {
        this.registerContainer(event.containerId, event.runId, event.limits);
      } catch (error) {
        this.logger.warn({ ...event, error: errorMessage(error) }, 'monitor could not watch a container');
      }
    };
    const onRemoved = (event: RunServiceEvents['container-removed'][0]): void => {
      this.unregisterContainer(event.containerId);
    };
    events.on('container-started', onStarted);
    events.on('container-removed', onRemoved);
    const detach = (): void => {
      events.off('container-started', onStarted);
      events.off('container-removed', onRemoved);
      this.detachers.delete(detach);
    };
    this.detachers.add(detach);
    return detach;
  }

  /** The ids of the watched containers. */
  monitoredContainerIds(): readonly string[] {
    return [...this.watches.keys()];
  }

  /**
   * Containers whose figures are being read now (an open stats stream, or open cgroup files).
   * Equals the number of watched containers, except for a container whose stream broke and waits
   * to be reopened, or whose files are gone.
   */
  openStreamCount(): number {
    return this.streams.openCount();
  }

  /** How the monitor reads containers' figures (see {@link StatsSampler}). */
  get monitorSource(): MonitorSource {
    return this.streams.source;
  }

  // ── Reading ─────────────────────────────────────────────────────────────────────────────────

  checkContainerHealth(containerId: string): ContainerHealth | undefined {
    const watch = this.watches.get(containerId);
    if (watch === undefined) return undefined;
    return {
      containerId,
      name: watch.name ?? containerId.slice(0, 12),
      runId: watch.runId,
      level: this.streams.isBroken(containerId) ? 'UNKNOWN' : gradeSample(watch.latest, this.thresholds, watch.limitCpus).level,
      monitorSource: this.streams.sourceOf(containerId) ?? this.streams.source,
      latest: watch.latest,
      alerts: this.tracker.activeAlerts(containerId),
      checkedAt: watch.checkedAt,
    };
  }

  /** Samples recorded in the history, oldest first (see {@link MonitorHistory.samples}). */
  samples(query: SampleQuery): Promise<readonly ResourceSample[]> {
    return this.history.samples(query);
  }

  alertsForAgent(runId: string): Promise<readonly HealthAlert[]> {
    return this.history.alerts(runId);
  }

  peakForAgent(runId: string): Promise<ResourcePeak | undefined> {
    return this.history.peak(runId);
  }

  /**
   * Pings the engine and reports on every watched container. Never throws because the engine is
   * down (that is reported); throws only when `signal` aborts.
   */
  async generateReport(signal?: AbortSignal): Promise<HealthReport> {
    const docker = await this.engine.ping(signal);
    await this.resolveMissingNames(signal);
    signal?.throwIfAborted();
    const containers = this.containerHealth();
    return {
      generatedAt: this.now(),
      docker,
      monitorSource: this.streams.source,
      overall: summarizeHealth(containers),
      containers,
      thresholds: this.thresholds,
    };
  }

  /** The limit (the queue's, or this node's: see `concurrencyLimit`) against what the host can take now. Pings the engine only if its capacity is unknown. */
  async concurrencyAdvice(signal?: AbortSignal): Promise<ConcurrencyAdvice> {
    if (this.engine.hostCapacity === null) await this.engine.ping(signal);
    signal?.throwIfAborted();
    return this.adviseFrom({ containers: this.containerHealth() });
  }

  /**
   * The advice for the containers of a report just made, with the host capacity that report's
   * ping found: what a coordinator reacting to `health-check` acts on, without asking the engine
   * again.
   */
  async adviseFrom(report: Pick<HealthReport, 'containers'>): Promise<ConcurrencyAdvice> {
    const running = new Set<string>();
    for (const watch of this.watches.values()) if (watch.runId !== null) running.add(watch.runId);
    const recentPeaks = await this.history.recentPeaks([...running], this.adviceRecentRuns);
    return adviseConcurrency({
      // Read after the history answered: the limit as it is when the advice is given.
      current: this.concurrencyLimit(),
      host: this.engine.hostCapacity,
      containers: report.containers,
      recentPeaks,
      perRunLimits: this.perRunLimits,
    });
  }

  // ── Health check ────────────────────────────────────────────────────────────────────────────

  /**
   * Runs a health check now and then every `intervalMs`: engine ping, one summary line in the log,
   * reopening broken streams, and a `health-check` event. Checks never overlap: a tick that finds
   * one still running is skipped. Restarting replaces the schedule.
   * @throws BosunError SHUTTING_DOWN after close(); InvalidValueError for a bad interval.
   */
  startMonitoring(intervalMs: number): void {
    if (this.closing !== null) throw new BosunError('SHUTTING_DOWN', 'The monitor is closed');
    this.healthChecks.start(intervalMs);
  }

  /** Stops the periodic health check and aborts the one in flight, if any. */
  stopMonitoring(): void {
    this.healthChecks.stop();
  }

  /** One health check (what startMonitoring runs on its schedule). */
  async runHealthCheck(signal?: AbortSignal): Promise<HealthReport> {
    const report = await this.generateReport(signal);
    this.streams.reopenBroken();
    const { overall, docker } = report;
    const unknownContainers = overall.totalContainers - overall.healthyContainers - overall.unhealthyContainers;
    this.logger.info({ ...overall, unknownContainers, dockerReachable: docker.reachable }, describeHealth(overall, docker));
    this.publisher.emit('health-check', report);
    return report;
  }

  // ── Shutdown ────────────────────────────────────────────────────────────────────────────────

  /**
   * Disposes of everything: stops the health check, stops following runs and ends every stream.
   * Open alerts are not resolved: the containers did not recover, bosun stopped watching.
   */
  close(): Promise<void> {
    this.closing ??= this.dispose();
    return this.closing;
  }

  private async dispose(): Promise<void> {
    this.stopMonitoring();
    for (const detach of [...this.detachers]) detach();
    for (const watch of this.watches.values()) watch.stop.abort();
    this.watches.clear();
    await Promise.allSettled([this.streams.close(), this.healthChecks.settled()]);
  }

  private containerHealth(): ContainerHealth[] {
    return [...this.watches.keys()].flatMap((id) => this.checkContainerHealth(id) ?? []);
  }

  /** Without a name the short id stands in; the next report tries again. */
  private async resolveName(watch: Watch, signal?: AbortSignal): Promise<void> {
    watch.name = (await this.engine.containerName(watch.containerId, signal ?? watch.stop.signal)) ?? watch.name;
  }

  private async resolveMissingNames(signal?: AbortSignal): Promise<void> {
    await Promise.all([...this.watches.values()].filter((w) => w.name === null).map((w) => this.resolveName(w, signal)));
  }
}
