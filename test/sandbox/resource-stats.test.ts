import { describe, expect, it } from 'vitest';
import { computeCpuPercent, computeMemoryUsageBytes, computeResourceStats } from '../../src/sandbox/resource-stats.js';

const frame = {
  read: '2026-11-26T10:00:01.000Z',
  cpu_stats: { cpu_usage: { total_usage: 2_500_000_000 }, system_cpu_usage: 20_000_000_000, online_cpus: 2 },
  precpu_stats: { cpu_usage: { total_usage: 2_000_000_000 }, system_cpu_usage: 18_000_000_000 },
  memory_stats: { usage: 100 * 1024 * 1024, limit: 400 * 1024 * 1024, stats: { total_inactive_file: 20 * 1024 * 1024 } },
  pids_stats: { current: 12, limit: 1000 },
};

describe('computeResourceStats', () => {
  it('computes CPU % as docker stats does: container delta / system delta × online CPUs × 100', () => {
    // 0.5 s of CPU over 2 s of system time (both CPUs) → 0.25 × 2 × 100 = 50 %.
    expect(computeCpuPercent(frame)).toBeCloseTo(50, 10);
  });

  it('falls back to the per-CPU list when online_cpus is missing', () => {
    const legacy = {
      ...frame,
      cpu_stats: { ...frame.cpu_stats, online_cpus: undefined, cpu_usage: { total_usage: 2_500_000_000, percpu_usage: [1, 2, 3, 4] } },
    };
    expect(computeCpuPercent(legacy)).toBeCloseTo(100, 10);
  });

  it('reads 0 for the first frame (no previous CPU figures) and for a zero system delta', () => {
    expect(computeCpuPercent({ ...frame, precpu_stats: {} })).toBe(0);
    expect(computeCpuPercent({ ...frame, precpu_stats: { ...frame.precpu_stats, system_cpu_usage: 20_000_000_000 } })).toBe(0);
  });

  it('subtracts the inactive page cache (cgroup v1 total_inactive_file, v2 inactive_file)', () => {
    expect(computeMemoryUsageBytes(frame)).toBe(80 * 1024 * 1024);
    expect(computeMemoryUsageBytes({ memory_stats: { usage: 1000, stats: { inactive_file: 300 } } })).toBe(700);
    expect(computeMemoryUsageBytes({ memory_stats: { usage: 1000, stats: { inactive_file: 3000 } } })).toBe(1000);
  });

  it('computes memory percent, pids and the frame time', () => {
    const stats = computeResourceStats(frame);
    expect(stats.memoryPercent).toBeCloseTo(20, 10);
    expect(stats.memoryLimitBytes).toBe(400 * 1024 * 1024);
    expect(stats.pids).toBe(12);
    expect(stats.pidsLimit).toBe(1000);
    expect(stats.at.toISOString()).toBe('2026-11-26T10:00:01.000Z');
  });

  it('treats Docker\'s "no pids limit" values as null', () => {
    expect(computeResourceStats({ pids_stats: { current: 1, limit: 0 } }).pidsLimit).toBeNull();
    // The maximum uint64 (2^64 - 1) as JSON.parse reads it: the nearest double, 2^64.
    expect(computeResourceStats({ pids_stats: { current: 1, limit: 2 ** 64 } }).pidsLimit).toBeNull();
  });
});
