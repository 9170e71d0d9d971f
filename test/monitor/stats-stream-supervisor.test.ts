import { afterEach, describe, expect, it, vi } from 'vitest';
import { BosunError } from '../../src/errors.js';
import type { ResourceStats } from '../../src/sandbox/resource-stats.js';
import { StatsStreamSupervisor, type StatsStreamSupervisorOptions } from '../../src/monitor/stats-stream-supervisor.js';
import { fakeMonitorLogger } from './fake-monitor-logger.js';
import { FakeStatsSource, flush } from './fake-stats-source.js';
import { stats } from './fixtures.js';

const T0 = 1_700_000_000_000;

const supervisors: StatsStreamSupervisor[] = [];
afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.close()));
});

function setup(overrides: Partial<Omit<StatsStreamSupervisorOptions, 'source' | 'logger'>> = {}) {
  const source = new FakeStatsSource();
  const logger = fakeMonitorLogger();
  const supervisor = new StatsStreamSupervisor({ source, logger, retryBaseDelayMs: 10, retryMaxDelayMs: 40, ...overrides });
  supervisors.push(supervisor);
  const frames = new Map<string, ResourceStats[]>();
  const open = (containerId: string, runId = `run-${containerId}`) =>
    supervisor.open(containerId, {
      onStats: (frame) => frames.set(containerId, [...(frames.get(containerId) ?? []), frame]),
      logContext: () => ({ runId }),
    });
  const framesOf = (containerId: string) => frames.get(containerId) ?? [];
  return { supervisor, source, logger, open, framesOf };
}

describe('StatsStreamSupervisor', () => {
  it('opens one stream per container at once and delivers every frame in order', async () => {
    const { supervisor, source, open, framesOf } = setup();
    expect(open('c1')).toBe(true);
    expect(open('c1')).toBe(false);
    expect(source.streams).toHaveLength(1);
    expect(supervisor.openCount()).toBe(1);
    source.stream('c1').push(stats({ atMs: T0, cpuPercent: 1 }));
    source.stream('c1').push(stats({ atMs: T0 + 100, cpuPercent: 2 }));
    await flush();
    expect(framesOf('c1').map((f) => f.cpuPercent)).toEqual([1, 2]);
    expect(supervisor.isBroken('c1')).toBe(false);
  });

  it('reopens a broken stream with backoff; broken until frames flow again, then logs the reopening', async () => {
    const { supervisor, source, logger, open, framesOf } = setup();
    open('c1');
    source.stream('c1').fail('connection reset');
    await flush();
    expect(supervisor.isBroken('c1')).toBe(true);
    expect(supervisor.openCount()).toBe(0);
    expect(logger.warn).toHaveBeenCalledWith(
      { containerId: 'c1', runId: 'run-c1', error: 'connection reset', backoffMs: 10 },
      'stats stream broke: reopening',
    );
    await vi.waitFor(() => expect(source.streamsOf('c1')).toHaveLength(2));
    expect(supervisor.openCount()).toBe(1);
    expect(supervisor.isBroken('c1')).toBe(true);
    source.stream('c1').push(stats({ atMs: T0 }));
    await flush();
    expect(supervisor.isBroken('c1')).toBe(false);
    expect(framesOf('c1')).toHaveLength(1);
    expect(logger.info).toHaveBeenCalledWith({ containerId: 'c1', runId: 'run-c1', failures: 1 }, 'stats stream reopened');
    expect(source.live).toBe(1);
  });

  it('a stream that ends is reopened too, logged at debug only', async () => {
    const { source, logger, open } = setup();
    open('c1');
    source.stream('c1').end();
    await vi.waitFor(() => expect(source.streamsOf('c1')).toHaveLength(2));
    expect(source.streamsOf('c1')[0]!.finished).toBe(true);
    // The engine ends the stream when the container stops: normal at the end of every run.
    expect(logger.debug).toHaveBeenCalledWith(
      expect.objectContaining({ containerId: 'c1', backoffMs: 10 }),
      'stats stream ended (container stopped): reopening',
    );
    expect(logger.warn).not.toHaveBeenCalled();
  });

  it('a stream that throws after a normal end still warns, once per outage', async () => {
    const { source, logger, open } = setup();
    open('c1');
    source.stream('c1').end();
    await vi.waitFor(() => expect(source.streamsOf('c1')).toHaveLength(2));
    source.stream('c1').fail('no such container');
    await vi.waitFor(() => expect(source.streamsOf('c1')).toHaveLength(3));
    source.stream('c1').fail('no such container');
    await vi.waitFor(() => expect(source.streamsOf('c1')).toHaveLength(4));
    expect(logger.warn).toHaveBeenCalledTimes(1);
    // Frames flowing again end the outage: the next failure is a new outage and warns again.
    source.stream('c1').push(stats({ atMs: T0 }));
    await flush();
    source.stream('c1').fail('reset');
    await vi.waitFor(() => expect(logger.warn).toHaveBeenCalledTimes(2));
  });

  it('backs off exponentially up to the maximum while the stream keeps failing', async () => {
    const { supervisor, source, logger, open } = setup({ retryBaseDelayMs: 20, retryMaxDelayMs: 40 });
    source.failAtOnce = true;
    open('c1');
    await vi.waitFor(() => expect(source.streamsOf('c1').length).toBeGreaterThanOrEqual(5), { interval: 5 });
    supervisor.stop('c1');
    const opened = source.streamsOf('c1').map((s) => s.openedAtMs);
    const gaps = opened.slice(1, 5).map((t, i) => t - opened[i]!);
    // 20, 40, 40, 40 ms; uncapped it would be 20, 40, 80, 160. Timers fire late, never early.
    expect(gaps[0]).toBeGreaterThanOrEqual(19);
    expect(gaps[1]).toBeGreaterThanOrEqual(39);
    expect(gaps[3]).toBeGreaterThanOrEqual(39);
    expect(gaps[3]).toBeLessThan(120);
    expect(logger.warn).toHaveBeenCalledTimes(1);
  });

  it('reopenBroken() reopens a broken stream without waiting for the backoff', async () => {
    const { supervisor, source, open } = setup({ retryBaseDelayMs: 60_000, retryMaxDelayMs: 60_000 });
    open('c1');
    open('c2');
    source.stream('c1').fail();
    await flush();
    expect(source.streamsOf('c1')).toHaveLength(1);
    supervisor.reopenBroken();
    await vi.waitFor(() => expect(source.streamsOf('c1')).toHaveLength(2));
    // A healthy stream is left alone.
    expect(source.streamsOf('c2')).toHaveLength(1);
  });

  it('stop() aborts the stream at once; a frame already on its way is not delivered', async () => {
    const { supervisor, source, open, framesOf } = setup();
    open('c1');
    const stream = source.stream('c1');
    stream.push(stats({ atMs: T0 }));
    expect(supervisor.stop('c1')).toBe(true);
    expect(stream.signal.aborted).toBe(true);
    expect(supervisor.openCount()).toBe(0);
    await flush();
    expect(framesOf('c1')).toEqual([]);
    expect(stream.finished).toBe(true);
    expect(source.live).toBe(0);
    expect(supervisor.stop('c1')).toBe(false);
  });

  it('stop() also ends a broken stream waiting to be reopened', async () => {
    const { supervisor, source, open } = setup({ retryBaseDelayMs: 20 });
    open('c1');
    source.stream('c1').fail();
    await flush();
    supervisor.stop('c1');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(source.streamsOf('c1')).toHaveLength(1);
  });

  it('open streams equal supervised containers through open/stop churn', async () => {
    const { supervisor, source, open } = setup();
    const supervised = new Set<string>();
    // A deterministic shuffle of opens and stops over 30 ids.
    let seed = 7;
    const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
    for (let step = 0; step < 400; step += 1) {
      const id = `c${Math.floor(random() * 30)}`;
      if (random() < 0.55) {
        open(id);
        supervised.add(id);
      } else {
        supervisor.stop(id);
        supervised.delete(id);
      }
      expect(supervisor.openCount()).toBe(supervised.size);
      if (step % 50 === 0) {
        await flush();
        expect(source.live).toBe(supervised.size);
      }
    }
    await flush();
    expect(supervised.size).toBeGreaterThan(0);
    expect(source.live).toBe(supervised.size);
    expect(source.streams.filter((s) => !s.signal.aborted)).toHaveLength(supervised.size);
    await supervisor.close();
    expect(source.live).toBe(0);
  });

  it('ends a stream even when the source ignores the abort signal', async () => {
    const { supervisor, source, open } = setup();
    source.ignoreAbort = true;
    open('c1');
    supervisor.stop('c1');
    expect(supervisor.openCount()).toBe(0);
    // close() waits for every stream loop: it must not hang on the stuck read.
    await supervisor.close();
  });

  it('a throwing frame handler does not break the stream', async () => {
    const { supervisor, source, logger } = setup();
    let calls = 0;
    supervisor.open('c1', {
      onStats: () => {
        calls += 1;
        throw new Error('handler bug');
      },
    });
    source.stream('c1').push(stats({ atMs: T0 }));
    source.stream('c1').push(stats({ atMs: T0 + 1000 }));
    await flush();
    expect(calls).toBe(2);
    expect(source.streams).toHaveLength(1);
    expect(supervisor.isBroken('c1')).toBe(false);
    expect(logger.warn).toHaveBeenCalledWith({ containerId: 'c1', error: 'handler bug' }, 'stats frame handler threw');
  });

  it('close() ends every stream and refuses new ones', async () => {
    const { supervisor, source, open } = setup();
    open('c1');
    open('c2');
    await supervisor.close();
    expect(source.live).toBe(0);
    expect(supervisor.openCount()).toBe(0);
    expect(() => open('c3')).toThrow(BosunError);
    await supervisor.close();
  });

  it('validates its delays eagerly', () => {
    expect(() => setup({ retryBaseDelayMs: 0 })).toThrow('Expected streamRetryBaseDelayMs to be an integer of at least 1, got 0');
    expect(() => setup({ retryBaseDelayMs: 100, retryMaxDelayMs: 50 })).toThrow(
      'Expected streamRetryMaxDelayMs to be an integer of at least 100, got 50',
    );
  });
});
