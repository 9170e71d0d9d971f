import { describe, expect, it } from 'vitest';
import { SampleHistory } from '../../src/monitor/sample-history.js';
import { GiB, sample } from './fixtures.js';

const T0 = 1_700_000_000_000;

function history(overrides: Partial<ConstructorParameters<typeof SampleHistory>[0]> = {}): SampleHistory {
  return new SampleHistory({ windowMs: 10_000, maxSamplesPerContainer: 100, ...overrides });
}

describe('SampleHistory samples', () => {
  it('keeps only what lies within the window of the newest sample', () => {
    const h = history({ windowMs: 10_000 });
    for (let s = 0; s <= 30; s += 5) h.add(sample('c1', 'run-1', { atMs: T0 + s * 1000 }));
    expect(h.samples({ containerId: 'c1' }).map((x) => (x.at.getTime() - T0) / 1000)).toEqual([20, 25, 30]);
  });

  it('also caps the count', () => {
    const h = history({ windowMs: 1_000_000, maxSamplesPerContainer: 3 });
    for (let s = 0; s < 10; s += 1) h.add(sample('c1', 'run-1', { atMs: T0 + s * 1000 }));
    expect(h.samples({ containerId: 'c1' })).toHaveLength(3);
    expect(h.latest('c1')!.at.getTime()).toBe(T0 + 9000);
  });

  it('queries by container, by run, all, and the last N, oldest first', () => {
    const h = history();
    h.add(sample('c1', 'run-1', { atMs: T0 + 1000, cpuPercent: 1 }));
    h.add(sample('c2', 'run-2', { atMs: T0 + 2000, cpuPercent: 2 }));
    h.add(sample('c1', 'run-1', { atMs: T0 + 3000, cpuPercent: 3 }));
    h.add(sample('x', null, { atMs: T0 + 4000, cpuPercent: 4 }));
    const cpu = (q: Parameters<SampleHistory['samples']>[0]) => h.samples(q).map((x) => x.cpuPercent);
    expect(cpu({ containerId: 'c1' })).toEqual([1, 3]);
    expect(cpu({ agentId: 'run-2' })).toEqual([2]);
    expect(cpu({})).toEqual([1, 2, 3, 4]);
    expect(cpu({ agentId: null, containerId: null, last: null })).toEqual([1, 2, 3, 4]);
    expect(cpu({ last: 2 })).toEqual([3, 4]);
    expect(cpu({ agentId: 'run-1', last: 1 })).toEqual([3]);
    expect(cpu({ agentId: 'run-2', containerId: 'c1' })).toEqual([]);
    expect(cpu({ last: 0 })).toEqual([]);
    expect(() => h.samples({ last: -1 })).toThrow('Expected last to be an integer of at least 0, got -1');
  });

  it('keeps a finished container until its samples age out', () => {
    const h = history({ windowMs: 10_000 });
    h.add(sample('c1', 'run-1', { atMs: T0 }));
    h.finishContainer('c1');
    h.prune(T0 + 5_000);
    expect(h.samples({ agentId: 'run-1' })).toHaveLength(1);
    h.prune(T0 + 10_001);
    expect(h.samples({ agentId: 'run-1' })).toEqual([]);
  });

  it('never prunes a container that is still monitored', () => {
    const h = history({ windowMs: 10_000 });
    h.add(sample('c1', 'run-1', { atMs: T0 }));
    h.prune(T0 + 60_000);
    expect(h.samples({ containerId: 'c1' })).toHaveLength(1);
  });
});

describe('SampleHistory peaks', () => {
  it('keeps each metric’s maximum per run, after the container is gone', () => {
    const h = history();
    h.add(sample('c1', 'run-1', { cpuPercent: 40, memoryUsageBytes: 1 * GiB, pids: 30 }));
    h.add(sample('c1', 'run-1', { cpuPercent: 90, memoryUsageBytes: 0.5 * GiB, pids: 10 }));
    h.add(sample('c1', 'run-1', { cpuPercent: 20, memoryUsageBytes: 0.2 * GiB, pids: 50 }));
    h.finishContainer('c1');
    h.prune(Number.MAX_SAFE_INTEGER);
    expect(h.samples({ agentId: 'run-1' })).toEqual([]);
    expect(h.peakForAgent('run-1')).toEqual({ cpuPercent: 90, memoryBytes: 1 * GiB, pids: 50 });
    expect(h.peakForAgent('run-9')).toBeUndefined();
  });

  it('keeps a bounded number of finished runs, dropping the oldest finished', () => {
    const h = history({ maxFinishedRuns: 2 });
    for (const n of [1, 2, 3]) {
      h.add(sample(`c${n}`, `run-${n}`, { cpuPercent: n }));
      h.finishContainer(`c${n}`);
    }
    expect(h.peakForAgent('run-1')).toBeUndefined();
    expect(h.peakForAgent('run-2')?.cpuPercent).toBe(2);
    expect(h.peakForAgent('run-3')?.cpuPercent).toBe(3);
  });

  it('recentPeaks lists running runs and the last finished ones', () => {
    const h = history();
    for (const n of [1, 2, 3]) {
      h.add(sample(`c${n}`, `run-${n}`, { cpuPercent: n }));
      h.finishContainer(`c${n}`);
    }
    h.add(sample('c4', 'run-4', { cpuPercent: 4 }));
    h.add(sample('x', null, { cpuPercent: 99 }));
    expect(h.recentPeaks(2).map((p) => p.cpuPercent)).toEqual([4, 2, 3]);
    expect(h.recentPeaks(0).map((p) => p.cpuPercent)).toEqual([4]);
  });
});
