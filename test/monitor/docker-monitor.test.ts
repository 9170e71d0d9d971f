import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BosunError } from '../../src/errors.js';
import type { QueueStats } from '../../src/queue/execution-queue.js';
import type { RunServiceEvents } from '../../src/runs/run-service.js';
import { DockerMonitor, type DockerMonitorOptions } from '../../src/monitor/docker-monitor.js';
import type { MonitorEvents } from '../../src/monitor/monitor-service.js';
import type { HealthAlert, HealthReport, ResourceSample } from '../../src/monitor/monitor-types.js';
import type { MonitorSource, SampleSink, StatsSampler } from '../../src/monitor/stats-sampler.js';
import { FakeStatsSource, flush } from './fake-stats-source.js';
import { GiB, THRESHOLDS, stats } from './fixtures.js';
import { fakeMonitorLogger } from './fake-monitor-logger.js';
import { FakeMonitorHistory } from './fake-monitor-history.js';

const T0 = 1_700_000_000_000;

const LIMITS = { cpus: 1, memoryBytes: 2 * GiB, pidsLimit: 1000 };

class FakeQueue {
  maxConcurrency = 1;
  stats(): QueueStats {
    return { running: 0, queued: 0, maxConcurrency: this.maxConcurrency, utilizationPercent: 0, paused: false };
  }
}

const monitors: DockerMonitor[] = [];
afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.close()));
});

function setup(overrides: Partial<Omit<DockerMonitorOptions, 'source' | 'history' | 'queue' | 'logger'>> = {}) {
  const source = new FakeStatsSource();
  const queue = new FakeQueue();
  const logger = fakeMonitorLogger();
  const history = new FakeMonitorHistory();
  const monitor = new DockerMonitor({
    source,
    history,
    queue,
    logger,
    thresholds: THRESHOLDS,
    alertConsecutiveSamples: 1,
    sampleIntervalMs: 1000,
    perRunLimits: { cpus: 1, memoryBytes: 2 * GiB },
    streamRetryBaseDelayMs: 10,
    streamRetryMaxDelayMs: 40,
    engineTimeoutMs: 200,
    ...overrides,
  });
  monitors.push(monitor);
  const seen = record(monitor.events);
  return { monitor, source, queue, logger, history, seen };
}

function record(events: EventEmitter<MonitorEvents>) {
  const seen = {
    samples: [] as ResourceSample[],
    alerts: [] as HealthAlert[],
    reports: [] as HealthReport[],
  };
  events.on('sample', (s) => seen.samples.push(s));
  events.on('alert', (a) => seen.alerts.push(a));
  events.on('health-check', (r) => seen.reports.push(r));
  return seen;
}

describe('DockerMonitor streams', () => {
  it('opens one stream per container at once and publishes a sample per frame', async () => {
    const { monitor, source, seen } = setup();
    expect(monitor.registerContainer('c1', 'run-1')).toBe(true);
    expect(monitor.registerContainer('c1', 'run-1')).toBe(false);
    expect(source.streams).toHaveLength(1);
    expect(monitor.openStreamCount()).toBe(1);
    source.stream('c1').push(stats({ atMs: T0, cpuPercent: 12 }));
    await flush();
    expect(seen.samples).toHaveLength(1);
    expect(seen.samples[0]).toMatchObject({ containerId: 'c1', runId: 'run-1', cpuPercent: 12 });
    expect(monitor.checkContainerHealth('c1')).toMatchObject({ level: 'HEALTHY', latest: seen.samples[0] });
    expect(await monitor.samples({ runId: 'run-1' })).toEqual(seen.samples);
  });

  it('reopens a broken stream with backoff; the container reads UNKNOWN until frames flow again', async () => {
    const { monitor, source, seen, logger } = setup();
    monitor.registerContainer('c1', 'run-1');
    source.stream('c1').push(stats({ atMs: T0 }));
    source.stream('c1').fail('connection reset');
    await flush();
    expect(monitor.checkContainerHealth('c1')!.level).toBe('UNKNOWN');
    expect(monitor.checkContainerHealth('c1')!.latest).toEqual(seen.samples[0]);
    expect(monitor.openStreamCount()).toBe(0);
    expect(logger.warn).toHaveBeenCalledWith(
      expect.objectContaining({ containerId: 'c1', error: 'connection reset', backoffMs: 10 }),
      'stats stream broke: reopening',
    );

    await vi.waitFor(() => expect(source.streamsOf('c1')).toHaveLength(2));
    expect(monitor.openStreamCount()).toBe(1);
    expect(monitor.checkContainerHealth('c1')!.level).toBe('UNKNOWN');
    source.stream('c1').push(stats({ atMs: T0 + 5_000, cpuPercent: 75 }));
    await flush();
    expect(monitor.checkContainerHealth('c1')!.level).toBe('WARNING');
    expect(logger.info).toHaveBeenCalledWith(expect.objectContaining({ containerId: 'c1' }), 'stats stream reopened');
    expect(source.live).toBe(1);
  });

  it('the health check reopens a broken stream without waiting for the backoff', async () => {
    const { monitor, source } = setup({ streamRetryBaseDelayMs: 60_000, streamRetryMaxDelayMs: 60_000 });
    monitor.registerContainer('c1', 'run-1');
    source.stream('c1').fail();
    await flush();
    expect(source.streamsOf('c1')).toHaveLength(1);
    await monitor.runHealthCheck();
    await vi.waitFor(() => expect(source.streamsOf('c1')).toHaveLength(2));
  });

  it('unregister aborts the stream at once', async () => {
    const { monitor, source } = setup();
    monitor.registerContainer('c1', 'run-1');
    const stream = source.stream('c1');
    expect(monitor.unregisterContainer('c1')).toBe(true);
    expect(stream.signal.aborted).toBe(true);
    expect(monitor.openStreamCount()).toBe(0);
    expect(monitor.checkContainerHealth('c1')).toBeUndefined();
    await flush();
    expect(stream.finished).toBe(true);
    expect(source.live).toBe(0);
    expect(monitor.unregisterContainer('c1')).toBe(false);
  });

  it('a frame already on its way when the container is unregistered is not published', async () => {
    const { monitor, source, seen } = setup();
    monitor.registerContainer('c1', 'run-1');
    source.stream('c1').push(stats({ atMs: T0, cpuPercent: 99 }));
    monitor.unregisterContainer('c1');
    await flush();
    expect(seen.samples).toEqual([]);
    expect(seen.alerts).toEqual([]);
    expect(await monitor.peakForAgent('run-1')).toBeUndefined();
  });

  it('open streams equal monitored containers through register/unregister churn', async () => {
    const { monitor, source } = setup();
    // A deterministic shuffle of registrations and removals over 30 ids.
    let seed = 7;
    const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
    for (let step = 0; step < 400; step += 1) {
      const id = `c${Math.floor(random() * 30)}`;
      if (random() < 0.55) monitor.registerContainer(id, `run-${id}`);
      else monitor.unregisterContainer(id);
      expect(monitor.openStreamCount()).toBe(monitor.monitoredContainerIds().length);
      if (step % 50 === 0) {
        await flush();
        expect(source.live).toBe(monitor.monitoredContainerIds().length);
      }
    }
    await flush();
    const monitored = monitor.monitoredContainerIds().length;
    expect(monitored).toBeGreaterThan(0);
    expect(source.live).toBe(monitored);
    expect(source.streams.filter((s) => !s.signal.aborted)).toHaveLength(monitored);
    await monitor.close();
    expect(source.live).toBe(0);
  });

  it('a throwing listener does not break the stream', async () => {
    const { monitor, source, seen, logger } = setup();
    monitor.events.on('sample', () => {
      throw new Error('listener bug');
    });
    monitor.registerContainer('c1', 'run-1');
    source.stream('c1').push(stats({ atMs: T0 }));
    source.stream('c1').push(stats({ atMs: T0 + 1000 }));
    await flush();
    expect(seen.samples).toHaveLength(2);
    expect(source.streams).toHaveLength(1);
    expect(logger.warn).toHaveBeenCalledWith({ event: 'sample', error: 'listener bug' }, 'monitor event listener threw');
  });
});

/** A sampler that reads containers itself (as the cgroup file sampler does): the test delivers readings. */
class PacedSampler implements StatsSampler {
  readonly source: MonitorSource = 'CGROUP_FILES';
  readonly sinks = new Map<string, SampleSink>();
  closed = false;
  open(containerId: string, sink: SampleSink): boolean {
    this.sinks.set(containerId, sink);
    return true;
  }
  stop(containerId: string): boolean {
    return this.sinks.delete(containerId);
  }
  isBroken(): boolean {
    return false;
  }
  sourceOf(containerId: string): MonitorSource | undefined {
    return this.sinks.has(containerId) ? 'CGROUP_FILES' : undefined;
  }
  openCount(): number {
    return this.sinks.size;
  }
  reopenBroken(): void {}
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

describe('DockerMonitor with a sampler of its own', () => {
  it('reads containers through it, says so in reports, and closes it', async () => {
    const sampler = new PacedSampler();
    const { monitor, source, seen } = setup({ sampler });
    monitor.registerContainer('c1', 'run-1');
    expect(source.streams).toHaveLength(0);
    expect(monitor.openStreamCount()).toBe(1);
    sampler.sinks.get('c1')!.onStats(stats({ atMs: T0 }));
    expect(seen.samples).toHaveLength(1);
    const report = await monitor.generateReport();
    expect(report.monitorSource).toBe('CGROUP_FILES');
    expect(report.containers[0]!.monitorSource).toBe('CGROUP_FILES');
    monitor.unregisterContainer('c1');
    expect(sampler.sinks.size).toBe(0);
    await monitor.close();
    expect(sampler.closed).toBe(true);
  });

  it('publishes every reading of a sampler that reads once per interval, even a tick a millisecond early', () => {
    const sampler = new PacedSampler();
    const { monitor, seen } = setup({ sampler });
    monitor.registerContainer('c1', 'run-1');
    for (const atMs of [T0, T0 + 999, T0 + 1998]) sampler.sinks.get('c1')!.onStats(stats({ atMs }));
    expect(seen.samples).toHaveLength(3);
  });

  it('reports ENGINE_STATS with the default stream supervisor', async () => {
    const { monitor } = setup();
    monitor.registerContainer('c1', null);
    const report = await monitor.generateReport();
    expect(report.monitorSource).toBe('ENGINE_STATS');
    expect(report.containers[0]!.monitorSource).toBe('ENGINE_STATS');
  });
});

describe('DockerMonitor runs, alerts and peaks', () => {
  it('follows the run service until detached', () => {
    const { monitor, source } = setup();
    const runs = new EventEmitter<RunServiceEvents>();
    const detach = monitor.attachToRuns(runs);
    runs.emit('container-started', { runId: 'run-1', containerId: 'c1', limits: LIMITS });
    expect(monitor.monitoredContainerIds()).toEqual(['c1']);
    expect(monitor.openStreamCount()).toBe(1);
    runs.emit('container-removed', { runId: 'run-1', containerId: 'c1' });
    expect(monitor.monitoredContainerIds()).toEqual([]);
    detach();
    runs.emit('container-started', { runId: 'run-2', containerId: 'c2', limits: LIMITS });
    expect(monitor.monitoredContainerIds()).toEqual([]);
    expect(source.streams).toHaveLength(1);
    expect(runs.listenerCount('container-started')).toBe(0);
  });

  it('publishes alerts, and resolves them when the container goes', async () => {
    const { monitor, source, seen } = setup();
    monitor.registerContainer('c1', 'run-1');
    source.stream('c1').push(stats({ atMs: T0, cpuPercent: 97.2 }));
    await flush();
    expect(seen.alerts.map((a) => [a.level, a.message])).toEqual([['CRITICAL', 'CPU at 97.2% of one CPU ≥ critical 90% for 1 sample']]);
    expect(monitor.checkContainerHealth('c1')!.alerts).toEqual(seen.alerts);

    monitor.unregisterContainer('c1');
    expect(seen.alerts).toHaveLength(2);
    expect(seen.alerts[1]).toMatchObject({ id: seen.alerts[0]!.id, resolvedAt: expect.any(Date) as Date });
    expect(await monitor.alertsForAgent('run-1')).toEqual([seen.alerts[1]]);
  });

  it('grades CPU against the CPU limit from container-started; samples keep the docker stats figure', async () => {
    const { monitor, source, seen } = setup();
    const runs = new EventEmitter<RunServiceEvents>();
    monitor.attachToRuns(runs);
    runs.emit('container-started', { runId: 'half', containerId: 'c-half', limits: { ...LIMITS, cpus: 0.5 } });
    runs.emit('container-started', { runId: 'four', containerId: 'c-four', limits: { ...LIMITS, cpus: 4 } });
    // A 0.5-CPU sandbox at its quota: 49 % of one CPU is 98 % of its limit.
    source.stream('c-half').push(stats({ atMs: T0, cpuPercent: 49 }));
    // A 4-CPU sandbox using one full CPU: 25 % of its limit.
    source.stream('c-four').push(stats({ atMs: T0, cpuPercent: 100 }));
    await flush();
    expect(seen.samples.map((s) => [s.containerId, s.cpuPercent])).toEqual([
      ['c-half', 49],
      ['c-four', 100],
    ]);
    expect(monitor.checkContainerHealth('c-half')!.level).toBe('CRITICAL');
    expect(monitor.checkContainerHealth('c-four')!.level).toBe('HEALTHY');
    expect(seen.alerts).toHaveLength(1);
    expect(seen.alerts[0]).toMatchObject({
      containerId: 'c-half',
      level: 'CRITICAL',
      metric: 'CPU',
      value: 98,
      threshold: 90,
      message: 'CPU at 98% of its 0.5-CPU limit ≥ critical 90% for 1 sample',
    });
  });

  it('without limits, CPU is graded on the raw figure; limits given later fill in', async () => {
    const { monitor, source, seen } = setup();
    monitor.registerContainer('c1', 'run-1');
    source.stream('c1').push(stats({ atMs: T0, cpuPercent: 100 }));
    await flush();
    // 100 % of one CPU reads CRITICAL when nothing says the container may use four.
    expect(monitor.checkContainerHealth('c1')!.level).toBe('CRITICAL');
    expect(seen.alerts[0]).toMatchObject({ value: 100, message: 'CPU at 100% of one CPU ≥ critical 90% for 1 sample' });

    expect(monitor.registerContainer('c1', 'run-1', { cpus: 4 })).toBe(false);
    expect(monitor.checkContainerHealth('c1')!.level).toBe('HEALTHY');
    source.stream('c1').push(stats({ atMs: T0 + 1000, cpuPercent: 100 }));
    await flush();
    expect(seen.alerts.map((a) => a.resolvedAt !== null)).toEqual([false, true]);
  });

  it('refuses a CPU limit that is not a number above 0', () => {
    const { monitor } = setup();
    expect(() => monitor.registerContainer('c1', 'run-1', { cpus: 0 })).toThrow('Expected the CPU limit to be a number above 0, got 0');
    expect(() => monitor.registerContainer('c1', 'run-1', { cpus: Number.NaN })).toThrow(/got NaN$/);
    expect(monitor.monitoredContainerIds()).toEqual([]);
  });

  it('records every sample and alert it publishes in the history, and reads runs’ timelines back from it', async () => {
    const { monitor, source, history, seen } = setup();
    monitor.registerContainer('c1', 'run-1');
    source.stream('c1').push(stats({ atMs: T0, cpuPercent: 40, memoryUsageBytes: GiB, pids: 12 }));
    source.stream('c1').push(stats({ atMs: T0 + 1000, cpuPercent: 95, memoryUsageBytes: GiB / 2, pids: 30 }));
    await flush();
    monitor.unregisterContainer('c1');
    expect(history.recordedSamples).toEqual(seen.samples);
    expect(history.recordedAlerts).toEqual(seen.alerts);
    expect(seen.alerts.map((a) => a.resolvedAt !== null)).toEqual([false, true]);
    expect(await monitor.samples({ runId: 'run-1' })).toEqual(seen.samples);
    expect(await monitor.alertsForAgent('run-1')).toEqual([seen.alerts[1]]);
    expect(await monitor.peakForAgent('run-1')).toEqual({ cpuPercent: 95, memoryBytes: GiB, pids: 30 });
  });
});

describe('DockerMonitor reports', () => {
  it('reports totals, averages over containers with a sample, names and engine', async () => {
    const { monitor, source } = setup();
    source.names.set('healthy', '/bosun-run-1');
    for (const [id, agent] of [
      ['healthy', 'run-1'],
      ['warm', 'run-2'],
      ['hot', 'run-3'],
      ['silent', null],
    ] as const) {
      monitor.registerContainer(id, agent);
    }
    source.stream('healthy').push(stats({ atMs: T0, cpuPercent: 10, memoryPercent: 20 }));
    source.stream('warm').push(stats({ atMs: T0, cpuPercent: 75, memoryPercent: 30 }));
    source.stream('hot').push(stats({ atMs: T0, cpuPercent: 50, memoryPercent: 40, pids: 960 }));
    await flush();

    const report = await monitor.generateReport();
    expect(report.docker).toEqual({ reachable: true, version: '27.1.1', error: null });
    expect(report.overall).toEqual({
      totalContainers: 4,
      healthyContainers: 1,
      warningContainers: 1,
      criticalContainers: 1,
      unhealthyContainers: 2,
      avgCpuPercent: 45,
      avgMemoryPercent: 30,
    });
    expect(report.thresholds).toEqual(THRESHOLDS);
    const byId = Object.fromEntries(report.containers.map((c) => [c.containerId, c]));
    expect(byId['healthy']).toMatchObject({ name: 'bosun-run-1', runId: 'run-1', level: 'HEALTHY' });
    expect(byId['hot']).toMatchObject({ name: 'hot', level: 'CRITICAL' });
    expect(byId['hot']!.alerts.map((a) => a.metric)).toEqual(['PIDS']);
    expect(byId['silent']).toMatchObject({ runId: null, level: 'UNKNOWN', latest: null, checkedAt: null });
    expect(byId['warm']!.checkedAt).toBeInstanceOf(Date);
  });

  it('reports an unreachable engine instead of throwing', async () => {
    const { monitor, source } = setup();
    source.engine = new Error('connect ENOENT /var/run/docker.sock');
    monitor.registerContainer('c1', 'run-1');
    const report = await monitor.generateReport();
    expect(report.docker).toEqual({ reachable: false, version: null, error: 'connect ENOENT /var/run/docker.sock' });
    expect(report.overall.totalContainers).toBe(1);
  });

  it('reports an engine that does not answer within the timeout', async () => {
    const { monitor, source } = setup({ engineTimeoutMs: 30 });
    source.engineHangs = true;
    const started = Date.now();
    const report = await monitor.generateReport();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(report.docker).toEqual({
      reachable: false,
      version: null,
      error: 'Docker engine ping: no answer within 30 ms',
    });
  });

  it('an empty report has zero averages', async () => {
    const { monitor } = setup();
    expect((await monitor.generateReport()).overall).toMatchObject({ totalContainers: 0, avgCpuPercent: 0 });
  });

  it('the periodic health check emits reports and logs one line until stopped', async () => {
    const { monitor, seen, logger } = setup();
    monitor.registerContainer('c1', 'run-1');
    monitor.startMonitoring(20);
    await vi.waitFor(() => expect(seen.reports.length).toBeGreaterThanOrEqual(2));
    monitor.stopMonitoring();
    await flush();
    const count = seen.reports.length;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(seen.reports.length).toBe(count);
    expect(logger.info).toHaveBeenCalledWith(
      expect.objectContaining({ totalContainers: 1, dockerReachable: true }),
      'health: 1 containers (0 healthy, 0 warning, 0 critical, 1 unknown), docker 27.1.1',
    );
  });

  it('validates the interval eagerly', () => {
    const { monitor } = setup();
    expect(() => monitor.startMonitoring(0)).toThrow('Expected intervalMs to be an integer of at least 1, got 0');
  });
});

describe('DockerMonitor concurrency', () => {
  it('advises from the queue’s limit, host capacity and measured peaks', async () => {
    const { monitor, source, queue, history } = setup();
    queue.maxConcurrency = 2;
    monitor.registerContainer('c1', 'run-1');
    // 4 GiB at peak: 0.8 × 16 GiB / 4 GiB = 3.2 → 3 (CPU allows 0.8 × 8 / 0.5 = 12.8).
    source.stream('c1').push(stats({ atMs: T0, cpuPercent: 50, memoryUsageBytes: 4 * GiB, memoryLimitBytes: 8 * GiB, memoryPercent: 50 }));
    await flush();
    const advice = await monitor.concurrencyAdvice();
    expect(advice).toMatchObject({ current: 2, recommended: 3, canIncrease: true });
    // The peaks of the running runs and of the 20 runs that ran last, from the history.
    expect(history.lastRecentPeaksQuery).toEqual({ running: ['run-1'], finishedLimit: 20 });
    expect(advice.reason).toContain('80% of 16 GiB / 4 GiB per run = 3.2');
    // The host capacity is kept: asking again does not ping the engine.
    const pings = source.engineCalls;
    await monitor.concurrencyAdvice();
    expect(source.engineCalls).toBe(pings);
  });
});

describe('DockerMonitor lifecycle', () => {
  it('close() ends streams and timers, and refuses new work', async () => {
    const { monitor, source, seen } = setup();
    const runs = new EventEmitter<RunServiceEvents>();
    monitor.attachToRuns(runs);
    monitor.registerContainer('c1', 'run-1');
    monitor.registerContainer('c2', 'run-2');
    source.stream('c1').push(stats({ atMs: T0, cpuPercent: 99 }));
    await flush();
    monitor.startMonitoring(10);
    await monitor.close();
    expect(source.live).toBe(0);
    expect(runs.listenerCount('container-started')).toBe(0);
    // Shutting down is not a recovery: the CRITICAL alert stays unresolved.
    expect(seen.alerts.filter((a) => a.resolvedAt !== null)).toEqual([]);
    const reports = seen.reports.length;
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(seen.reports.length).toBe(reports);
    expect(() => monitor.registerContainer('c3', null)).toThrow(BosunError);
    expect(() => monitor.startMonitoring(1000)).toThrow('The monitor is closed');
    await monitor.close();
  });

  it('validates its options eagerly', () => {
    expect(() => setup({ sampleIntervalMs: 0 })).toThrow('Expected sampleIntervalMs to be an integer of at least 1, got 0');
    expect(() => setup({ alertConsecutiveSamples: 0 })).toThrow('Expected consecutiveSamples to be an integer of at least 1, got 0');
    const { monitor } = setup();
    expect(() => monitor.registerContainer('', null)).toThrow('Expected a container id, got ""');
  });
});
