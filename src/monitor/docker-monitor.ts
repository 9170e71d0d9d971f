/**
 * The monitor: one live stats stream per sandbox container, graded, turned into alerts, recorded
 * in the history and published as events; a periodic health check; concurrency advice and
 * opt-in autoscaling of the queue. Built in the composition root from injected parts; it never
 * talks to Docker itself (see {@link ContainerStatsSource}) and keeps no history of its own (see
 * {@link MonitorHistory}).
 */
import { EventEmitter } from 'node:events';
import type { BosunConfig } from '../config.js';
import { BosunError, InvalidValueError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ExecutionQueue } from '../queue/execution-queue.js';
import type { RunServiceEvents } from '../runs/run-service.js';
import type { SandboxLimits } from '../sandbox/limits.js';
import type { ResourceStats } from '../sandbox/resource-stats.js';
import { withDeadline } from '../shared/deadline.js';
import { checkInteger } from '../shared/validate.js';
import { AlertTracker } from './alert-tracker.js';
import { AlertWebhook, type AlertNotifier } from './alert-webhook.js';
import { adviseConcurrency, MAX_RECOMMENDED_CONCURRENCY } from './concurrency-advice.js';
import type { ContainerStatsSource } from './container-stats-source.js';
import { gradeSample, isCpuLimit } from './health-grading.js';
import type { MonitorHistory } from './monitor-history.js';
import type { MonitorEvents, MonitorService, SampleQuery } from './monitor-service.js';
import type {
  ConcurrencyAdvice,
  ContainerHealth,
  DockerEngineHealth,
  HealthAlert,
  HealthOverall,
  HealthReport,
  HostCapacity,
  ResourcePeak,
  ResourceSample,
} from './monitor-types.js';
import { StatsStreamSupervisor } from './stats-stream-supervisor.js';

/** The part of {@link BosunConfig} the monitor reads. */
export type DockerMonitorConfig = Pick<
  BosunConfig,
  | 'thresholds'
  | 'alertConsecutiveSamples'
  | 'resourceSampleIntervalMs'
  | 'healthCheckIntervalMs'
  | 'concurrencyAutoscale'
  | 'concurrencyAutoscaleMax'
  | 'alertWebhookUrl'
  | 'alertWebhookSecret'
  | 'defaultLimits'
>;

/** What the monitor needs to know of a container's limits: its CPU limit, to grade CPU against it. */
export type WatchedContainerLimits = Pick<SandboxLimits, 'cpus'>;

/** The queue operations the monitor uses: its stats for advice, its limit for autoscaling. */
export type MonitoredQueue = Pick<ExecutionQueue, 'stats' | 'setMaxConcurrency'>;

export interface DockerMonitorOptions {
  readonly config: DockerMonitorConfig;
  /** Live stats, engine info and container names. */
  readonly source: ContainerStatsSource;
  /** Where published samples and alerts are recorded, and runs' timelines and peaks read back. */
  readonly history: MonitorHistory;
  readonly queue: MonitoredQueue;
  readonly logger: MonitorLog;
  /**
   * Told about every alert published. Default: an {@link AlertWebhook} when
   * `config.alertWebhookUrl` is set, otherwise none. The monitor owns it and closes it in close().
   */
  readonly alertNotifier?: AlertNotifier | null;
  /** First wait before reopening a broken stats stream; doubles per failure. Default 1,000. */
  readonly streamRetryBaseDelayMs?: number;
  /** Longest wait before reopening a broken stats stream. Default 30,000. */
  readonly streamRetryMaxDelayMs?: number;
  /** Longest wait for the engine's answer (ping, container name). Default 5,000. */
  readonly engineTimeoutMs?: number;
  /** Finished runs whose peaks feed the concurrency advice, besides the running ones. Default 20. */
  readonly adviceRecentRuns?: number;
  readonly now?: () => Date;
}

/** The logging the monitor does. */
export type MonitorLog = Pick<Logger, 'debug' | 'info' | 'warn'>;

/** One monitored container. */
interface Watch {
  readonly containerId: string;
  agentId: string | null;
  /** The container's CPU limit; null when unknown (CPU is then graded on the raw figure). */
  limitCpus: number | null;
  /** Aborted on unregister and close: ends the name lookup. */
  readonly stop: AbortController;
  name: string | null;
  latest: ResourceSample | null;
  checkedAt: Date | null;
  lastPublishedAtMs: number | null;
}

export class DockerMonitor implements MonitorService {
  readonly events = new EventEmitter<MonitorEvents>();

  private readonly config: DockerMonitorConfig;
  private readonly source: ContainerStatsSource;
  private readonly queue: MonitoredQueue;
  private readonly logger: MonitorLog;
  private readonly notifier: AlertNotifier | null;
  private readonly engineTimeoutMs: number;
  private readonly adviceRecentRuns: number;
  private readonly now: () => Date;
  private readonly tracker: AlertTracker;
  private readonly history: MonitorHistory;

  private readonly streams: StatsStreamSupervisor;
  private readonly watches = new Map<string, Watch>();
  private readonly detachers = new Set<() => void>();
  private engine: DockerEngineHealth = { reachable: false, version: null, error: 'not checked yet' };
  private hostCapacity: HostCapacity | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  /** Aborts the health check in flight; replaced by each startMonitoring(). */
  private healthAbort = new AbortController();
  private healthCheckInFlight: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  /** @throws InvalidValueError for a bad threshold, interval, count or URL. */
  constructor(options: DockerMonitorOptions) {
    const { config } = options;
    this.config = config;
    this.source = options.source;
    this.queue = options.queue;
    this.logger = options.logger;
    this.streams = new StatsStreamSupervisor({
      source: options.source,
      logger: options.logger,
      retryBaseDelayMs: options.streamRetryBaseDelayMs,
      retryMaxDelayMs: options.streamRetryMaxDelayMs,
    });
    this.engineTimeoutMs = checkInteger('engineTimeoutMs', options.engineTimeoutMs ?? 5_000, { min: 1 });
    this.adviceRecentRuns = checkInteger('adviceRecentRuns', options.adviceRecentRuns ?? 20, { min: 0 });
    this.now = options.now ?? (() => new Date());
    checkInteger('resourceSampleIntervalMs', config.resourceSampleIntervalMs, { min: 1 });
    checkInteger('healthCheckIntervalMs', config.healthCheckIntervalMs, { min: 1 });
    if (
      !Number.isSafeInteger(config.concurrencyAutoscaleMax) ||
      config.concurrencyAutoscaleMax < 1 ||
      config.concurrencyAutoscaleMax > MAX_RECOMMENDED_CONCURRENCY
    ) {
      throw new InvalidValueError(
        `concurrencyAutoscaleMax to be an integer from 1 to ${MAX_RECOMMENDED_CONCURRENCY}`,
        config.concurrencyAutoscaleMax,
      );
    }
    this.tracker = new AlertTracker({
      thresholds: config.thresholds,
      consecutiveSamples: config.alertConsecutiveSamples,
    });
    this.history = options.history;
    this.notifier =
      options.alertNotifier !== undefined
        ? options.alertNotifier
        : config.alertWebhookUrl !== undefined
          ? new AlertWebhook({ url: config.alertWebhookUrl, secret: config.alertWebhookSecret, logger: this.logger })
          : null;
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
  registerContainer(containerId: string, agentId: string | null, limits?: WatchedContainerLimits | null): boolean {
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
      if (known.agentId === null && agentId !== null) known.agentId = agentId;
      if (known.limitCpus === null && limitCpus !== null) known.limitCpus = limitCpus;
      return false;
    }
    const watch: Watch = {
      containerId,
      agentId,
      limitCpus,
      stop: new AbortController(),
      name: null,
      latest: null,
      checkedAt: null,
      lastPublishedAtMs: null,
    };
    this.watches.set(containerId, watch);
    this.streams.open(containerId, {
      onStats: (stats) => this.publishStats(watch, stats),
      logContext: () => ({ agentId: watch.agentId }),
    });
    void this.resolveName(watch);
    return true;
  }

  /**
   * Stops watching a container: aborts its stream at once, keeps its samples (until they age out)
   * and its run's peak. Its unresolved alerts end with it and are published resolved.
   * @returns whether it was watched.
   */
  unregisterContainer(containerId: string): boolean {
    const watch = this.watches.get(containerId);
    if (watch === undefined) return false;
    this.watches.delete(containerId);
    watch.stop.abort();
    this.streams.stop(containerId);
    for (const alert of this.tracker.closeContainer(containerId, this.now())) this.publishAlert(alert);
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
        this.registerContainer(event.containerId, event.agentId, event.limits);
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
   * Stats streams open now. Equals the number of watched containers, except for a container whose
   * stream broke and waits to be reopened.
   */
  openStreamCount(): number {
    return this.streams.openCount();
  }

  // ── Reading ─────────────────────────────────────────────────────────────────────────────────

  checkContainerHealth(containerId: string): ContainerHealth | undefined {
    const watch = this.watches.get(containerId);
    if (watch === undefined) return undefined;
    return {
      containerId,
      name: watch.name ?? containerId.slice(0, 12),
      agentId: watch.agentId,
      level: this.streams.isBroken(containerId) ? 'UNKNOWN' : gradeSample(watch.latest, this.config.thresholds, watch.limitCpus).level,
      latest: watch.latest,
      alerts: this.tracker.activeAlerts(containerId),
      checkedAt: watch.checkedAt,
    };
  }

  /** Samples recorded in the history, oldest first (see {@link MonitorHistory.samples}). */
  samples(query: SampleQuery): readonly ResourceSample[] {
    return this.history.samples(query);
  }

  alertsForAgent(agentId: string): readonly HealthAlert[] {
    return this.history.alerts(agentId);
  }

  peakForAgent(agentId: string): ResourcePeak | undefined {
    return this.history.peak(agentId);
  }

  /**
   * Pings the engine and reports on every watched container. Never throws because the engine is
   * down (that is reported); throws only when `signal` aborts.
   */
  async generateReport(signal?: AbortSignal): Promise<HealthReport> {
    const docker = await this.pingEngine(signal);
    await this.resolveMissingNames(signal);
    signal?.throwIfAborted();
    const containers = [...this.watches.keys()].flatMap((id) => this.checkContainerHealth(id) ?? []);
    return {
      generatedAt: this.now(),
      docker,
      overall: summarize(containers),
      containers,
      thresholds: this.config.thresholds,
    };
  }

  /** The queue's limit against what the host can take now. Pings the engine only if its capacity is unknown. */
  async concurrencyAdvice(signal?: AbortSignal): Promise<ConcurrencyAdvice> {
    if (this.hostCapacity === null) await this.pingEngine(signal);
    signal?.throwIfAborted();
    return this.adviceFor([...this.watches.keys()].flatMap((id) => this.checkContainerHealth(id) ?? []));
  }

  // ── Health check ────────────────────────────────────────────────────────────────────────────

  /**
   * Runs a health check now and then every `intervalMs`: engine ping, one summary line in the log,
   * reopening broken streams, autoscaling when enabled, and a `health-check` event. Checks never
   * overlap: a tick that finds one still running is skipped. Restarting replaces the schedule.
   * @throws BosunError SHUTTING_DOWN after close(); InvalidValueError for a bad interval.
   */
  startMonitoring(intervalMs: number = this.config.healthCheckIntervalMs): void {
    if (this.closing !== null) throw new BosunError('SHUTTING_DOWN', 'The monitor is closed');
    checkInteger('intervalMs', intervalMs, { min: 1 });
    this.stopMonitoring();
    this.healthAbort = new AbortController();
    const signal = this.healthAbort.signal;
    const tick = (): void => {
      if (this.healthCheckInFlight !== null) return;
      this.healthCheckInFlight = this.runHealthCheck(signal)
        .then(() => undefined)
        .catch((error: unknown) => {
          if (!signal.aborted) this.logger.warn({ error: errorMessage(error) }, 'health check failed');
        })
        .finally(() => {
          this.healthCheckInFlight = null;
        });
    };
    this.healthTimer = setInterval(tick, intervalMs);
    tick();
  }

  /** Stops the periodic health check and aborts the one in flight, if any. */
  stopMonitoring(): void {
    if (this.healthTimer !== null) clearInterval(this.healthTimer);
    this.healthTimer = null;
    this.healthAbort.abort();
  }

  /** One health check (what startMonitoring runs on its schedule). */
  async runHealthCheck(signal?: AbortSignal): Promise<HealthReport> {
    const report = await this.generateReport(signal);
    this.streams.reopenBroken();
    const { overall, docker } = report;
    const engine = docker.reachable ? `docker ${docker.version ?? '?'}` : `docker unreachable (${docker.error ?? '?'})`;
    const unknown = overall.totalContainers - overall.healthyContainers - overall.unhealthyContainers;
    this.logger.info(
      { ...overall, unknownContainers: unknown, dockerReachable: docker.reachable },
      `health: ${overall.totalContainers} containers (${overall.healthyContainers} healthy, ` +
        `${overall.warningContainers} warning, ${overall.criticalContainers} critical, ${unknown} unknown), ${engine}`,
    );
    if (this.config.concurrencyAutoscale) this.autoscale(report);
    this.emit('health-check', report);
    return report;
  }

  // ── Shutdown ────────────────────────────────────────────────────────────────────────────────

  /**
   * Disposes of everything: stops the health check, stops following runs, ends every stream,
   * and closes the alert notifier (waiting for its deliveries; when `signal` aborts, dropping them).
   * Open alerts are not resolved: the containers did not recover, bosun stopped watching.
   */
  close(signal?: AbortSignal): Promise<void> {
    this.closing ??= this.dispose(signal);
    return this.closing;
  }

  private async dispose(signal: AbortSignal | undefined): Promise<void> {
    this.stopMonitoring();
    for (const detach of [...this.detachers]) detach();
    for (const watch of this.watches.values()) watch.stop.abort();
    this.watches.clear();
    await Promise.allSettled([this.streams.close(), this.healthCheckInFlight]);
    await this.notifier?.close(signal);
  }

  // ── Publishing ──────────────────────────────────────────────────────────────────────────────

  /** Publishes a frame unless one was published less than a sample interval before it. */
  private publishStats(watch: Watch, stats: ResourceStats): void {
    const atMs = stats.at.getTime();
    const last = watch.lastPublishedAtMs;
    // A frame dated before the last published one (engine clock moved back) restarts the throttle.
    if (last !== null && atMs >= last && atMs - last < this.config.resourceSampleIntervalMs) return;
    watch.lastPublishedAtMs = atMs;
    const sample: ResourceSample = {
      containerId: watch.containerId,
      agentId: watch.agentId,
      at: stats.at,
      cpuPercent: stats.cpuPercent,
      memoryUsageBytes: stats.memoryUsageBytes,
      memoryLimitBytes: stats.memoryLimitBytes,
      memoryPercent: stats.memoryPercent,
      pids: stats.pids,
      pidsLimit: stats.pidsLimit,
    };
    watch.latest = sample;
    watch.checkedAt = this.now();
    this.record(() => this.history.recordSample(sample));
    const alerts = this.tracker.observe(sample, watch.limitCpus);
    this.emit('sample', sample);
    for (const alert of alerts) this.publishAlert(alert);
  }

  private publishAlert(alert: HealthAlert): void {
    this.record(() => this.history.recordAlert(alert));
    this.emit('alert', alert);
    this.notifier?.notify(alert);
  }

  /** Writes to the history without letting a failed write stop publishing. */
  private record(write: () => void): void {
    try {
      write();
    } catch (error) {
      this.logger.warn({ error: errorMessage(error) }, 'monitor history write failed');
    }
  }

  /** Emits without letting a throwing listener break the stream or check that emitted. */
  private emit<K extends keyof MonitorEvents>(event: K, ...args: MonitorEvents[K]): void {
    try {
      (this.events.emit as (event: K, ...args: MonitorEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.logger.warn({ event, error: errorMessage(error) }, 'monitor event listener threw');
    }
  }

  // ── Engine ──────────────────────────────────────────────────────────────────────────────────

  private async pingEngine(signal?: AbortSignal): Promise<DockerEngineHealth> {
    try {
      const info = await withDeadline((bounded) => this.source.engineInfo(bounded), {
        timeoutMs: this.engineTimeoutMs,
        signal,
        onTimeout: () => new Error(`Docker engine ping: no answer within ${this.engineTimeoutMs} ms`),
      });
      this.engine = { reachable: true, version: info.version, error: null };
      this.hostCapacity = { cpus: info.cpus, memoryBytes: info.memoryBytes };
    } catch (error) {
      this.engine = { reachable: false, version: null, error: errorMessage(error) };
    }
    return this.engine;
  }

  private async resolveName(watch: Watch, signal?: AbortSignal): Promise<void> {
    try {
      const name = await withDeadline(() => this.source.containerName(watch.containerId), {
        timeoutMs: this.engineTimeoutMs,
        signal: signal ?? watch.stop.signal,
      });
      watch.name = name.replace(/^\//, '');
    } catch {
      // The short id stands in; the next report tries again.
    }
  }

  private async resolveMissingNames(signal?: AbortSignal): Promise<void> {
    const unnamed = [...this.watches.values()].filter((watch) => watch.name === null);
    await Promise.all(unnamed.map((watch) => this.resolveName(watch, signal)));
  }

  // ── Concurrency ─────────────────────────────────────────────────────────────────────────────

  /** The runs of the watched containers. */
  private runningAgentIds(): string[] {
    const ids = new Set<string>();
    for (const watch of this.watches.values()) if (watch.agentId !== null) ids.add(watch.agentId);
    return [...ids];
  }

  private adviceFor(containers: readonly ContainerHealth[]): ConcurrencyAdvice {
    return adviseConcurrency({
      current: this.queue.stats().maxConcurrency,
      host: this.hostCapacity,
      containers,
      recentPeaks: this.history.recentPeaks(this.runningAgentIds(), this.adviceRecentRuns),
      perRunLimits: this.config.defaultLimits,
    });
  }

  /** Moves the queue's limit one step toward the advice, never above concurrencyAutoscaleMax. */
  private autoscale(report: HealthReport): void {
    const advice = this.adviceFor(report.containers);
    // 0 = unlimited: someone chose no limit, and autoscaling does not impose one.
    if (advice.current === 0) return;
    const target = Math.min(advice.recommended, this.config.concurrencyAutoscaleMax);
    if (target === advice.current) return;
    const to = advice.current + Math.sign(target - advice.current);
    this.queue.setMaxConcurrency(to);
    const event = { from: advice.current, to, reason: advice.reason };
    this.logger.info({ ...event, target }, `concurrency ${event.from} → ${event.to}`);
    this.emit('concurrency-adjusted', event);
  }
}

function summarize(containers: readonly ContainerHealth[]): HealthOverall {
  let healthy = 0;
  let warning = 0;
  let critical = 0;
  let cpuTotal = 0;
  let memoryTotal = 0;
  let measured = 0;
  for (const container of containers) {
    if (container.level === 'HEALTHY') healthy += 1;
    else if (container.level === 'WARNING') warning += 1;
    else if (container.level === 'CRITICAL') critical += 1;
    // A broken stream's last sample is stale: only current readings enter the averages.
    if (container.level !== 'UNKNOWN' && container.latest !== null) {
      cpuTotal += container.latest.cpuPercent;
      memoryTotal += container.latest.memoryPercent;
      measured += 1;
    }
  }
  return {
    totalContainers: containers.length,
    healthyContainers: healthy,
    warningContainers: warning,
    criticalContainers: critical,
    unhealthyContainers: warning + critical,
    avgCpuPercent: measured === 0 ? 0 : cpuTotal / measured,
    avgMemoryPercent: measured === 0 ? 0 : memoryTotal / measured,
  };
}
