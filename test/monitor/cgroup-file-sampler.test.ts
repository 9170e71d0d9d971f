import { afterEach, describe, expect, it, vi } from 'vitest';
import { BosunError } from '../../src/errors.js';
import { CgroupFileSampler, type CgroupFileSamplerOptions } from '../../src/monitor/cgroup-file-sampler.js';
import { CgroupLayout, type CgroupPlacement } from '../../src/monitor/cgroup-layout.js';
import { HostCpuClock } from '../../src/monitor/cgroup-reader.js';
import { createStatsSampler } from '../../src/monitor/create-stats-sampler.js';
import type { MonitorSource, SampleSink, StatsSampler } from '../../src/monitor/stats-sampler.js';
import { StatsStreamSupervisor } from '../../src/monitor/stats-stream-supervisor.js';
import type { ResourceStats } from '../../src/sandbox/resource-stats.js';
import { FakeCgroupHost, containerId } from './fake-cgroup.js';
import { fakeMonitorLogger } from './fake-monitor-logger.js';
import { FakeStatsSource, flush } from './fake-stats-source.js';

const MiB = 1024 ** 2;
const HOST_MEMORY = 8 * 1024 * MiB;
const T0 = 1_700_000_000_000;

/** A fallback that records what it was asked to read. */
class RecordingFallback implements StatsSampler {
  readonly source: MonitorSource = 'ENGINE_STATS';
  readonly opened = new Map<string, SampleSink>();
  broken = new Set<string>();
  closed = false;
  reopened = 0;
  open(containerId: string, sink: SampleSink): boolean {
    this.opened.set(containerId, sink);
    return true;
  }
  stop(containerId: string): boolean {
    return this.opened.delete(containerId);
  }
  isBroken(containerId: string): boolean {
    return this.broken.has(containerId);
  }
  sourceOf(containerId: string): MonitorSource | undefined {
    return this.opened.has(containerId) ? 'ENGINE_STATS' : undefined;
  }
  openCount(): number {
    return this.opened.size;
  }
  reopenBroken(): void {
    this.reopened += 1;
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

const hosts: FakeCgroupHost[] = [];
const samplers: CgroupFileSampler[] = [];
afterEach(async () => {
  await Promise.all(samplers.splice(0).map((sampler) => sampler.close()));
  for (const host of hosts.splice(0)) host.remove();
});

function setup(version: 1 | 2, overrides: Partial<CgroupFileSamplerOptions> = {}) {
  const fake = new FakeCgroupHost(version);
  hosts.push(fake);
  const layout = CgroupLayout.detect({ root: fake.root, procRoot: fake.procRoot })!;
  const fallback = new RecordingFallback();
  const logger = fakeMonitorLogger();
  let nowMs = T0;
  const sampler = new CgroupFileSampler({
    layout,
    fallback,
    intervalMs: 1000,
    logger,
    hostCpu: new HostCpuClock(fake.procStat),
    onlineCpus: 2,
    hostMemoryBytes: HOST_MEMORY,
    now: () => nowMs,
    ...overrides,
  });
  samplers.push(sampler);
  /** Moves the clocks on: wall time and the host's CPU time over 2 CPUs. */
  let ticks = 0;
  const advance = (ms: number) => {
    nowMs += ms;
    ticks += (ms / 10) * 2;
    fake.setHostTicks(ticks);
  };
  return { fake, sampler, fallback, logger, advance };
}

function sink(): SampleSink & { readonly seen: ResourceStats[] } {
  const seen: ResourceStats[] = [];
  return { seen, onStats: (stats) => seen.push(stats) };
}

describe.each([1, 2] as const)('CgroupFileSampler on cgroup v%i', (version) => {
  it('computes what docker stats shows from the files: CPU over the host’s CPU time × CPUs, memory without inactive cache', () => {
    const { fake, sampler, advance } = setup(version);
    const id = containerId(1);
    fake.writeCgroup(`/docker/${id}`, { cpuUsageNs: 1_000_000_000 });
    const container = sink();
    expect(sampler.open(id, container)).toBe(true);
    expect(sampler.open(id, container)).toBe(false);
    expect(sampler.sourceOf(id)).toBe('CGROUP_FILES');
    expect(sampler.openCount()).toBe(1);
    // 0.5 s of CPU in 1 s of wall time on 2 CPUs: docker stats shows 50 %.
    advance(1000);
    fake.writeCgroup(`/docker/${id}`, { cpuUsageNs: 1_500_000_000 });
    sampler.sampleNow();
    expect(container.seen).toHaveLength(1);
    const [stats] = container.seen;
    expect(stats!.at.getTime()).toBe(T0 + 1000);
    expect(stats!.cpuPercent).toBeCloseTo(50, 6);
    expect(stats!.memoryUsageBytes).toBe(80 * MiB);
    expect(stats!.memoryLimitBytes).toBe(400 * MiB);
    expect(stats!.memoryPercent).toBeCloseTo(20, 6);
    expect(stats).toMatchObject({ pids: 3, pidsLimit: 100 });
    // Two full CPUs in the next second: 200 %, like docker stats.
    advance(1000);
    fake.writeCgroup(`/docker/${id}`, { cpuUsageNs: 3_500_000_000 });
    sampler.sampleNow();
    expect(container.seen[1]!.cpuPercent).toBeCloseTo(200, 6);
  });

  it('shows no memory limit, or one above the host’s memory, as the host’s memory; no pids limit as null', () => {
    const { fake, sampler, advance } = setup(version);
    const id = containerId(2);
    fake.writeCgroup(`/docker/${id}`, { memoryLimit: 'max', pidsLimit: 'max' });
    const container = sink();
    sampler.open(id, container);
    advance(1000);
    sampler.sampleNow();
    expect(container.seen[0]).toMatchObject({ memoryLimitBytes: HOST_MEMORY, pidsLimit: null });
  });

  it('reads every container at each tick of one timer, and stops it with the last container', () => {
    vi.useFakeTimers();
    try {
      const { fake, sampler, advance } = setup(version);
      const sinks = [sink(), sink(), sink()];
      sinks.forEach((s, index) => {
        fake.writeCgroup(`/docker/${containerId(10 + index)}`);
        sampler.open(containerId(10 + index), s);
      });
      expect(vi.getTimerCount()).toBe(1);
      advance(1000);
      vi.advanceTimersByTime(1000);
      advance(1000);
      vi.advanceTimersByTime(1000);
      expect(sinks.map((s) => s.seen.length)).toEqual([2, 2, 2]);
      sinks.forEach((_, index) => sampler.stop(containerId(10 + index)));
      expect(vi.getTimerCount()).toBe(0);
      advance(1000);
      vi.advanceTimersByTime(1000);
      expect(sinks.map((s) => s.seen.length)).toEqual([2, 2, 2]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('asks the engine where a container is that the conventions do not find', async () => {
    const path = `/custom/${containerId(3)}`;
    const placement = vi.fn<(id: string, signal: AbortSignal) => Promise<CgroupPlacement>>(() =>
      Promise.resolve({ pid: 777, cgroupParent: '/custom' }),
    );
    const { fake, sampler, fallback, advance } = setup(version, { placement });
    fake.writeCgroup(path);
    fake.writeProcess(777, path);
    const container = sink();
    sampler.open(containerId(3), container);
    await vi.waitFor(() => expect(sampler.openCount()).toBe(1));
    expect(placement).toHaveBeenCalledWith(containerId(3), expect.any(AbortSignal));
    advance(1000);
    sampler.sampleNow();
    expect(container.seen).toHaveLength(1);
    expect(fallback.opened.size).toBe(0);
  });

  it('hands a container whose files cannot be found to the engine’s stream, and says so once at info', async () => {
    const placement = vi.fn(() => Promise.resolve({ pid: 4242, cgroupParent: null }));
    const { sampler, fallback, logger } = setup(version, { placement });
    const first = sink();
    sampler.open(containerId(4), first);
    await vi.waitFor(() => expect(fallback.opened.get(containerId(4))).toBe(first));
    expect(sampler.sourceOf(containerId(4))).toBe('ENGINE_STATS');
    expect(sampler.openCount()).toBe(1);
    sampler.open(containerId(5), sink());
    await vi.waitFor(() => expect(fallback.opened.size).toBe(2));
    expect(logger.info).toHaveBeenCalledTimes(1);
    // The engine failing to answer is no different.
    placement.mockRejectedValueOnce(new Error('engine down'));
    sampler.open(containerId(6), sink());
    await vi.waitFor(() => expect(fallback.opened.size).toBe(3));
    fallback.broken.add(containerId(4));
    expect(sampler.isBroken(containerId(4))).toBe(true);
    sampler.reopenBroken();
    expect(fallback.reopened).toBe(1);
    expect(sampler.stop(containerId(4))).toBe(true);
    expect(fallback.opened.has(containerId(4))).toBe(false);
  });

  it('without the engine to ask, goes to the stream at once', () => {
    const { sampler, fallback } = setup(version);
    sampler.open('short-id', sink());
    expect(fallback.opened.has('short-id')).toBe(true);
  });

  it('a container whose files vanish is broken (logged at debug) until they are back; the first reading after is a baseline', () => {
    // Files opened at each reading, as past MAX_CONTAINERS_KEPT_OPEN (a kept descriptor of a regular file would outlive its removal).
    const { fake, sampler, logger, advance } = setup(version, { maxContainersKeptOpen: 0 });
    const id = containerId(8);
    fake.writeCgroup(`/docker/${id}`);
    const container = sink();
    sampler.open(id, container);
    advance(1000);
    sampler.sampleNow();
    expect(container.seen).toHaveLength(1);
    fake.removeCgroup(`/docker/${id}`);
    advance(1000);
    sampler.sampleNow();
    expect(sampler.isBroken(id)).toBe(true);
    expect(sampler.openCount()).toBe(0);
    expect(logger.debug).toHaveBeenCalledWith(expect.objectContaining({ containerId: id }), 'cgroup files gone (container stopped)');
    expect(logger.warn).not.toHaveBeenCalled();
    fake.writeCgroup(`/docker/${id}`, { pids: 5 });
    advance(1000);
    sampler.sampleNow();
    expect(sampler.isBroken(id)).toBe(false);
    expect(container.seen).toHaveLength(1);
    advance(1000);
    sampler.sampleNow();
    expect(container.seen).toHaveLength(2);
    expect(container.seen[1]!.pids).toBe(5);
  });

  it('a file that does not parse breaks the container, at warn once per outage, and info when it reads again', () => {
    const { fake, sampler, logger, advance } = setup(version);
    const id = containerId(18);
    fake.writeCgroup(`/docker/${id}`);
    sampler.open(id, sink());
    fake.writeCgroup(`/docker/${id}`, { pids: Number.NaN });
    for (let tick = 0; tick < 3; tick += 1) {
      advance(1000);
      sampler.sampleNow();
    }
    expect(sampler.isBroken(id)).toBe(true);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    fake.writeCgroup(`/docker/${id}`);
    advance(1000);
    sampler.sampleNow();
    expect(sampler.isBroken(id)).toBe(false);
    expect(logger.info).toHaveBeenCalledWith(expect.objectContaining({ containerId: id }), 'cgroup files readable again');
  });

  it('delivers nothing after stop(), refuses open() after close(), and closes the fallback', async () => {
    const { fake, sampler, fallback, advance } = setup(version);
    const id = containerId(9);
    fake.writeCgroup(`/docker/${id}`);
    const container = sink();
    sampler.open(id, container);
    expect(sampler.stop(id)).toBe(true);
    expect(sampler.stop(id)).toBe(false);
    advance(1000);
    sampler.sampleNow();
    expect(container.seen).toEqual([]);
    await sampler.close();
    expect(fallback.closed).toBe(true);
    expect(() => sampler.open(id, container)).toThrow(BosunError);
  });

  it('a sink that throws is logged and the others are still read', () => {
    const { fake, sampler, logger, advance } = setup(version);
    fake.writeCgroup(`/docker/${containerId(20)}`);
    fake.writeCgroup(`/docker/${containerId(21)}`);
    sampler.open(containerId(20), {
      onStats: () => {
        throw new Error('boom');
      },
    });
    const other = sink();
    sampler.open(containerId(21), other);
    advance(1000);
    sampler.sampleNow();
    expect(other.seen).toHaveLength(1);
    expect(logger.warn).toHaveBeenCalledWith(expect.objectContaining({ error: 'boom' }), 'stats handler threw');
  });
});

it('without /proc/stat, CPU % stands on wall time × CPUs', () => {
  const { fake, sampler, advance } = setup(2, { hostCpu: new HostCpuClock('/nonexistent/stat') });
  const id = containerId(30);
  fake.writeCgroup(`/docker/${id}`, { cpuUsageNs: 0 });
  const container = sink();
  sampler.open(id, container);
  advance(2000);
  fake.writeCgroup(`/docker/${id}`, { cpuUsageNs: 1_000_000_000 });
  sampler.sampleNow();
  expect(container.seen[0]!.cpuPercent).toBeCloseTo(50, 6);
});

describe('createStatsSampler', () => {
  const source = Object.assign(new FakeStatsSource(), {
    cgroupPlacement: () => Promise.resolve({ pid: null, cgroupParent: null }),
  });

  it('reads the cgroup files when the engine is local and they can be read', async () => {
    const fake = new FakeCgroupHost(2);
    hosts.push(fake);
    const logger = fakeMonitorLogger();
    const sampler = createStatsSampler({ engineIsLocal: true, source, intervalMs: 1000, logger, layout: { root: fake.root } });
    expect(sampler).toBeInstanceOf(CgroupFileSampler);
    expect(sampler.source).toBe('CGROUP_FILES');
    await sampler.close();
  });

  it('keeps the engine’s streams for a remote engine, or where the files cannot be read', async () => {
    const fake = new FakeCgroupHost(2);
    hosts.push(fake);
    const remote = createStatsSampler({ engineIsLocal: false, source, intervalMs: 1000, logger: fakeMonitorLogger(), layout: { root: fake.root } });
    expect(remote).toBeInstanceOf(StatsStreamSupervisor);
    expect(remote.source).toBe('ENGINE_STATS');
    const unreadable = createStatsSampler({
      engineIsLocal: true,
      source,
      intervalMs: 1000,
      logger: fakeMonitorLogger(),
      layout: { root: '/nonexistent' },
    });
    expect(unreadable.source).toBe('ENGINE_STATS');
    await Promise.all([remote.close(), unreadable.close()]);
    await flush();
  });
});
