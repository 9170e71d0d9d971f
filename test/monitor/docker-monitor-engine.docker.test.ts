/**
 * DockerMonitor against the real engine: the real SandboxManager as its stats source, real
 * sandbox containers under real load, and the real execution queue. Slow (about 30 s), so
 * each scenario observes only as long as its claim needs.
 *
 * Other work may load both cores, so no check needs CPU the machine may not have to spare: the
 * CPU alert tests grade against low thresholds, a CPU limit is checked from above (the quota only
 * holds a burner down; load holds it down further) and in the cgroup, and docker stats' scale is
 * checked against the CPU time the container's cgroup counted over the same time.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { ContainerStatsSource } from '../../src/monitor/container-stats-source.js';
import { ConcurrencyAutoscaler } from '../../src/coordination/concurrency-autoscaler.js';
import { DockerMonitor, type DockerMonitorOptions } from '../../src/monitor/docker-monitor.js';
import type { AlertLevel, HealthAlert, ResourceMetric, ResourceSample } from '../../src/monitor/monitor-types.js';
import { AgentExecutionQueue } from '../../src/queue/agent-execution-queue.js';
import type { RunServiceEvents } from '../../src/runs/run-service.js';
import type { DockerSandbox } from '../../src/sandbox/docker-sandbox.js';
import type { SandboxLimits } from '../../src/sandbox/limits.js';
import type { ResourceStats } from '../../src/sandbox/resource-stats.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { TEST_IMAGE, createTestDocker, readInside, removeLeftovers, testInstanceId } from '../helpers/docker.js';
import { fakeMonitorLogger } from './fake-monitor-logger.js';
import { FakeMonitorHistory } from './fake-monitor-history.js';

const MiB = 1024 ** 2;
const ONE_CPU: SandboxLimits = { cpus: 1, memoryBytes: 256 * MiB, pidsLimit: 100 };
const SMALL: SandboxLimits = { cpus: 1, memoryBytes: 64 * MiB, pidsLimit: 100 };
const BURN_CPU = 'while :; do :; done';
/**
 * Holds 52 MiB (81 % of a 64m limit) in one process: dd's buffer, stuck writing to a pipe nobody
 * reads. (Holding it in a shell variable, `x=$(head -c … | tr …)`, does not work: ash doubles its
 * buffer as it reads, so the shell is OOM-killed past about 30 MiB on a 64m limit.)
 */
const HOLD_52_MIB = 'dd if=/dev/zero bs=54525952 count=1 2>/dev/null | sleep 2147483647';

const CONFIG = loadConfig(
  { RESOURCE_SAMPLE_INTERVAL_MS: '1000', ALERT_CONSECUTIVE_SAMPLES: '2', DOCKER_CPU_LIMIT: '1', DOCKER_MEMORY_LIMIT: '256m' },
  2,
);
/**
 * CPU thresholds for the CPU alert tests, in percent of the container's limit. A burner crosses
 * the defaults (70/90 %) only while a core is nearly free for it; 10 % is crossed unless some 20
 * other CPU-bound processes share the 2 cores.
 */
const LOW_CPU_THRESHOLDS = { ...CONFIG.thresholds, cpuPercentWarning: 10, cpuPercentCritical: 20 };

/** The real manager as the source, counting the stats streams it has open. */
class CountingSource implements ContainerStatsSource {
  open = 0;
  constructor(private readonly inner: ContainerStatsSource) {}

  async *streamStats(containerId: string, signal: AbortSignal): AsyncGenerator<ResourceStats> {
    this.open += 1;
    try {
      yield* this.inner.streamStats(containerId, signal);
    } finally {
      this.open -= 1;
    }
  }

  engineInfo(signal?: AbortSignal): ReturnType<ContainerStatsSource['engineInfo']> {
    return this.inner.engineInfo(signal);
  }

  containerName(containerId: string): Promise<string> {
    return this.inner.containerName(containerId);
  }
}

let docker: Docker;
let manager: SandboxManager;
const instanceId = testInstanceId();
let agentSeq = 0;
const monitors: DockerMonitor[] = [];
/** Commands left running in sandboxes: aborted (and awaited) after each test. */
const commands: Array<{ stop: AbortController; done: Promise<unknown> }> = [];

beforeAll(() => {
  docker = createTestDocker();
  manager = new SandboxManager(docker, instanceId);
});

afterEach(async () => {
  await Promise.all(monitors.splice(0).map((monitor) => monitor.close()));
  for (const command of commands) command.stop.abort();
  await Promise.all(commands.splice(0).map((command) => command.done));
  await manager.disposeAll();
});

afterAll(async () => {
  expect(await removeLeftovers(docker, instanceId)).toBe(0);
});

function createSandbox(limits: SandboxLimits): Promise<DockerSandbox> {
  agentSeq += 1;
  return manager.create({ runId: `${instanceId}-m${agentSeq}`, image: TEST_IMAGE, limits });
}

/** Starts a command in the sandbox and leaves it running (stopped by the test or after it). */
function runInBackground(sandbox: DockerSandbox, command: string): void {
  const stop = new AbortController();
  commands.push({ stop, done: sandbox.exec(command, { signal: stop.signal }).catch(() => undefined) });
}

function newMonitor(
  options: {
    source?: ContainerStatsSource;
    perRunLimits?: DockerMonitorOptions['perRunLimits'];
    thresholds?: DockerMonitorOptions['thresholds'];
  } = {},
) {
  const logger = fakeMonitorLogger();
  // Only its limit is read; nothing is enqueued.
  const queue = new AgentExecutionQueue({ runTask: () => Promise.resolve(), maxConcurrency: 1, maxQueueLength: 10, queueTimeoutMs: 60_000 });
  const monitor = new DockerMonitor({
    source: options.source ?? manager,
    history: new FakeMonitorHistory(),
    queue,
    logger,
    thresholds: options.thresholds ?? CONFIG.thresholds,
    alertConsecutiveSamples: CONFIG.alertConsecutiveSamples,
    sampleIntervalMs: CONFIG.resourceSampleIntervalMs,
    perRunLimits: options.perRunLimits ?? CONFIG.defaultLimits,
  });
  monitors.push(monitor);
  const samples: ResourceSample[] = [];
  const alerts: HealthAlert[] = [];
  monitor.events.on('sample', (sample) => samples.push(sample));
  monitor.events.on('alert', (alert) => alerts.push(alert));
  return { monitor, queue, logger, samples, alerts };
}

/** The CPU limit the kernel enforces on the container, in CPUs (cgroup v2 cpu.max, or v1's CFS quota over its period). */
async function cgroupCpuLimit(containerId: string): Promise<number | null> {
  const text = await readInside(
    docker,
    containerId,
    'cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo "$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)"',
  );
  const [quota = '', period = ''] = text.split(/\s+/);
  return quota === 'max' || quota === '-1' ? null : Number(quota) / Number(period);
}

/** The CPU time the container's cgroup has used so far, in seconds (cgroup v2 cpu.stat, or v1 cpuacct.usage), and when it was read. */
async function cgroupCpuSeconds(containerId: string): Promise<{ seconds: number; atMs: number }> {
  const askedAt = Date.now();
  const text = await readInside(docker, containerId, 'cat /sys/fs/cgroup/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpuacct/cpuacct.usage');
  const atMs = (askedAt + Date.now()) / 2;
  const v2 = /^usage_usec (\d+)$/m.exec(text);
  return { seconds: v2 ? Number(v2[1]) / 1e6 : Number(text) / 1e9, atMs };
}

const raised = (alerts: readonly HealthAlert[], containerId: string) =>
  alerts.filter((alert) => alert.containerId === containerId && alert.resolvedAt === null);

/**
 * The levels raised in each alert episode of one container's metric, in order. An episode ends
 * when its alerts are published resolved (all of them together).
 */
function episodes(alerts: readonly HealthAlert[], containerId: string, metric: ResourceMetric): AlertLevel[][] {
  const found: AlertLevel[][] = [];
  let open: AlertLevel[] | null = null;
  for (const alert of alerts) {
    if (alert.containerId !== containerId || alert.metric !== metric) continue;
    if (alert.resolvedAt !== null) {
      open = null;
      continue;
    }
    if (open === null) {
      open = [];
      found.push(open);
    }
    open.push(alert.level);
  }
  return found;
}

describe('DockerMonitor on the real engine', () => {
  it('a CPU burner at its 1-CPU limit raises one alert per level per episode, recovers when it stops, and the report counts it', async () => {
    const [busy, idle] = await Promise.all([createSandbox(ONE_CPU), createSandbox(ONE_CPU)]);
    const { monitor, samples, alerts } = newMonitor({ thresholds: LOW_CPU_THRESHOLDS });
    monitor.registerContainer(busy.id, busy.spec.runId, busy.spec.limits);
    monitor.registerContainer(idle.id, idle.spec.runId, idle.spec.limits);
    runInBackground(busy, BURN_CPU);

    // Observe from the burner's first sample on, reading the CPU time its cgroup counts meanwhile.
    await vi.waitFor(() => expect(samples.some((s) => s.containerId === busy.id)).toBe(true), { timeout: 10_000, interval: 100 });
    const counterBefore = await cgroupCpuSeconds(busy.id);
    await delay(8_000);
    const counterAfter = await cgroupCpuSeconds(busy.id);
    const busySamples = samples.filter((s) => s.containerId === busy.id);
    const busyCpu = busySamples.map((s) => Math.round(s.cpuPercent));
    const cpuEpisodes = episodes(alerts, busy.id, 'CPU');
    // Other tests may share these two cores, so a dip could end an episode and start another;
    // within one episode, though, each level is raised once however the figure wobbles.
    expect(cpuEpisodes.length, `CPU % of the burner: ${busyCpu.join(' ')}`).toBeGreaterThanOrEqual(1);
    for (const levels of cpuEpisodes) expect(new Set(levels).size, `episode ${levels.join(', ')}`).toBe(levels.length);
    const first = alerts.find((alert) => alert.containerId === busy.id && alert.metric === 'CPU')!;
    expect(first.message).toMatch(/^CPU at [\d.]+% of its 1-CPU limit ≥ (warning 10|critical 20)% for 2 samples$/);
    // One CPU at most: the kernel holds the burner to its 1-CPU quota, and no sample reads more
    // than that (with docker stats' timing margin); load can only hold it lower.
    expect(await cgroupCpuLimit(busy.id)).toBe(1);
    expect(Math.max(...busyCpu)).toBeLessThan(130);
    // On docker stats' scale (100 = one CPU busy): the samples' mean over those seconds is the rate
    // at which the cgroup counted CPU time, whatever share of a core the machine gave the burner.
    // (Off by the machine's 2 CPUs either way, the ratio would be 0.5 or 2.)
    const countedPercent = ((counterAfter.seconds - counterBefore.seconds) / ((counterAfter.atMs - counterBefore.atMs) / 1000)) * 100;
    const inWindow = busySamples
      .filter((s) => s.at.getTime() - CONFIG.resourceSampleIntervalMs >= counterBefore.atMs && s.at.getTime() <= counterAfter.atMs)
      .map((s) => s.cpuPercent);
    const sampledPercent = inWindow.reduce((sum, cpu) => sum + cpu, 0) / inWindow.length;
    const scale = `samples ${inWindow.map((cpu) => cpu.toFixed(0)).join(' ')} (mean ${sampledPercent.toFixed(1)}) vs the cgroup's ${countedPercent.toFixed(1)} %`;
    expect(inWindow.length, scale).toBeGreaterThanOrEqual(3);
    expect(sampledPercent / countedPercent, scale).toBeGreaterThan(2 / 3);
    expect(sampledPercent / countedPercent, scale).toBeLessThan(3 / 2);
    expect(alerts.filter((alert) => alert.containerId === idle.id)).toEqual([]);

    // Levels are the latest sample's: poll past a momentary dip of the burner.
    const report = await vi.waitFor(
      async () => {
        const candidate = await monitor.generateReport();
        expect(candidate.containers.find((c) => c.containerId === busy.id)!.level).toMatch(/^(WARNING|CRITICAL)$/);
        return candidate;
      },
      { timeout: 5_000, interval: 300 },
    );
    expect(report.docker).toMatchObject({ reachable: true, error: null });
    expect(report.overall).toMatchObject({ totalContainers: 2, healthyContainers: 1, unhealthyContainers: 1 });
    expect(report.overall.warningContainers + report.overall.criticalContainers).toBe(1);
    expect(report.containers.find((c) => c.containerId === idle.id)).toMatchObject({ level: 'HEALTHY', alerts: [] });
    expect(report.containers.find((c) => c.containerId === busy.id)!.name).toBe(busy.name);

    const active = monitor.checkContainerHealth(busy.id)!.alerts.filter((alert) => alert.metric === 'CPU');
    expect(active.length).toBeGreaterThanOrEqual(1);
    // The keep-alive ignores TERM: the sandbox stays up, the burner goes.
    await busy.signalProcesses('TERM');
    await vi.waitFor(() => expect(monitor.checkContainerHealth(busy.id)!.alerts).toEqual([]), {
      timeout: 10_000,
      interval: 200,
    });
    const resolved = alerts.filter((alert) => alert.resolvedAt !== null && alert.containerId === busy.id);
    for (const alert of active) expect(resolved).toContainEqual({ ...alert, resolvedAt: expect.any(Date) as Date });
    expect(monitor.checkContainerHealth(busy.id)!.level).toBe('HEALTHY');
  });

  it('a 0.5-CPU burner is held to its quota in samples and graded CRITICAL against its limit', async () => {
    const half = await createSandbox({ ...ONE_CPU, cpus: 0.5 });
    const { monitor, samples, alerts } = newMonitor({ thresholds: LOW_CPU_THRESHOLDS });
    monitor.registerContainer(half.id, half.spec.runId, half.spec.limits);
    runInBackground(half, BURN_CPU);

    await vi.waitFor(() => expect(raised(alerts, half.id).map((a) => a.level)).toContain('CRITICAL'), {
      timeout: 10_000,
      interval: 200,
    });
    // The kernel holds it to half a CPU, and no sample reads more than that (with docker stats'
    // timing margin); load can only hold it lower.
    expect(await cgroupCpuLimit(half.id)).toBe(0.5);
    const busyCpu = samples.map((s) => s.cpuPercent).filter((cpu) => cpu > 0);
    expect(Math.max(...busyCpu)).toBeLessThan(65);
    // Graded against its limit, not on the raw figure: the alert's value is the sample's over 0.5.
    const critical = raised(alerts, half.id).find((alert) => alert.level === 'CRITICAL')!;
    const raisedBy = samples.find((s) => s.at.getTime() === critical.at.getTime())!;
    expect(critical.value).toBeCloseTo(raisedBy.cpuPercent / 0.5, 5);
    expect(critical.message).toMatch(/^CPU at [\d.]+% of its 0\.5-CPU limit ≥ critical 20% for 2 samples$/);
  });

  it('a process holding 81% of a 64m limit raises a MEMORY alert; an idle container stays HEALTHY meanwhile', async () => {
    const [hungry, idle] = await Promise.all([createSandbox(SMALL), createSandbox(SMALL)]);
    const { monitor, samples, alerts } = newMonitor();
    monitor.registerContainer(hungry.id, hungry.spec.runId, hungry.spec.limits);
    monitor.registerContainer(idle.id, idle.spec.runId, idle.spec.limits);
    runInBackground(hungry, HOLD_52_MIB);

    await vi.waitFor(() => expect(raised(alerts, hungry.id).map((a) => a.metric)).toContain('MEMORY'), {
      timeout: 10_000,
      interval: 200,
    });
    // Watch both for a few more seconds: the idle one must come through the span untouched.
    await vi.waitFor(() => expect(samples.filter((s) => s.containerId === idle.id).length).toBeGreaterThanOrEqual(6), {
      timeout: 10_000,
      interval: 200,
    });
    const memory = raised(alerts, hungry.id).filter((alert) => alert.metric === 'MEMORY');
    expect(memory).toHaveLength(1);
    expect(memory[0]!.value).toBeGreaterThanOrEqual(70);
    const latest = monitor.checkContainerHealth(hungry.id)!.latest!;
    expect(latest.memoryLimitBytes).toBe(64 * MiB);
    expect(latest.memoryUsageBytes).toBeGreaterThan(50 * MiB);

    expect(raised(alerts, idle.id)).toEqual([]);
    expect(monitor.checkContainerHealth(idle.id)!.level).toBe('HEALTHY');
  });

  it('samples arrive at about one a second and stop with the containers; no stream is left open after 5 runs', async () => {
    const source = new CountingSource(manager);
    const { monitor, samples, logger } = newMonitor({ source });
    const runs = new EventEmitter<RunServiceEvents>();
    monitor.attachToRuns(runs);
    const sandboxes = await Promise.all(Array.from({ length: 5 }, () => createSandbox(SMALL)));
    for (const sandbox of sandboxes) {
      runs.emit('container-started', { runId: sandbox.spec.runId, containerId: sandbox.id, limits: sandbox.spec.limits });
    }
    expect(monitor.openStreamCount()).toBe(5);

    await vi.waitFor(() => expect(new Set(samples.map((s) => s.containerId)).size).toBe(5), { timeout: 5_000 });
    const windowMs = 5_500;
    const before = samples.length;
    await delay(windowMs);
    for (const sandbox of sandboxes) {
      const times = samples.filter((s) => s.containerId === sandbox.id).map((s) => s.at.getTime());
      // Never more than one a second, by the frames' own times: a busy machine only spaces them out.
      for (let i = 1; i < times.length; i += 1) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(CONFIG.resourceSampleIntervalMs);
      // And they keep coming, about one a second: at least 2 in the 5.5 s window, which leaves a
      // loaded engine and event loop up to about 3 s a sample.
      const inWindow = samples.slice(before).filter((s) => s.containerId === sandbox.id).length;
      expect(inWindow, `samples of ${sandbox.id} in ${windowMs} ms`).toBeGreaterThanOrEqual(2);
    }

    // As the run service ends a run: kill, remove, then tell. One at a time, as runs end.
    for (const sandbox of sandboxes) {
      await sandbox.stop({ graceMs: 0 });
      await sandbox.dispose();
      runs.emit('container-removed', { runId: sandbox.spec.runId, containerId: sandbox.id });
    }
    expect(monitor.openStreamCount()).toBe(0);
    expect(monitor.monitoredContainerIds()).toEqual([]);
    const after = samples.length;
    await delay(2_500);
    expect(samples.length).toBe(after);
    expect(source.open).toBe(0);
    // A stream that ends because its container stopped is normal: nothing at warn.
    expect(logger.warn).not.toHaveBeenCalled();
  });

  it('with the engine unreachable, the report says so instead of throwing and advice still answers', async () => {
    const nowhere = new SandboxManager(new Docker({ socketPath: '/tmp/bosun-no-engine.sock' }), instanceId);
    const { monitor, logger } = newMonitor({ source: nowhere });
    monitor.registerContainer('0123456789abcdef', 'ghost');

    const report = await monitor.generateReport();
    expect(report.docker.reachable).toBe(false);
    expect(report.docker.version).toBeNull();
    expect(report.docker.error).toMatch(/\S/);
    expect(report.overall).toMatchObject({ totalContainers: 1, healthyContainers: 0, unhealthyContainers: 0 });
    expect(report.containers[0]).toMatchObject({ containerId: '0123456789abcdef', level: 'UNKNOWN', name: '0123456789ab' });

    const advice = await monitor.concurrencyAdvice();
    expect(advice).toMatchObject({ current: 1, recommended: 1, canIncrease: false });
    expect(advice.reason).toContain('Host capacity unknown');
    // A stream that cannot be opened is a real problem: it is logged at warn.
    await vi.waitFor(() =>
      expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ containerId: '0123456789abcdef' }), 'stats stream broke: reopening'),
    );
  });

  it('autoscaling moves the real queue’s limit one step per health check, never above its maximum', async () => {
    // Light runs (0.25 CPU, 256m) on this host: the advice is 4; the maximum says 3.
    const { monitor, queue, logger } = newMonitor({ perRunLimits: { cpus: 0.25, memoryBytes: 256 * MiB } });
    using autoscaler = new ConcurrencyAutoscaler({
      monitorEvents: monitor.events,
      advise: (report) => monitor.adviseFrom(report),
      queue,
      max: 3,
      logger,
    });
    const adjusted: Array<[from: number, to: number]> = [];
    monitor.events.on('concurrency-adjusted', (event) => adjusted.push([event.from, event.to]));
    expect((await monitor.concurrencyAdvice()).recommended).toBe(4);
    const limitAfterCheck: number[] = [];
    for (let check = 0; check < 4; check += 1) {
      await monitor.runHealthCheck();
      // Its step (advice from the history, then the queue's change) is asynchronous.
      await autoscaler.settled();
      limitAfterCheck.push(queue.stats().maxConcurrency);
    }
    expect(limitAfterCheck).toEqual([2, 3, 3, 3]);
    expect(adjusted).toEqual([
      [1, 2],
      [2, 3],
    ]);
  });
});
