import { describe, expect, it } from 'vitest';
import {
  adviseConcurrency,
  calculateRecommendedConcurrency,
  canIncreaseConcurrency,
  type ConcurrencyAdviceInput,
} from '../../src/monitor/concurrency-advice.js';
import type { HealthLevel, ResourcePeak } from '../../src/monitor/monitor-types.js';
import { GiB } from './fixtures.js';

const HOST_8_16 = { cpus: 8, memoryBytes: 16 * GiB };
const LIMITS_1_2 = { cpus: 1, memoryBytes: 2 * GiB };

function input(overrides: Partial<ConcurrencyAdviceInput> = {}): ConcurrencyAdviceInput {
  return { current: 1, host: HOST_8_16, containers: [], recentPeaks: [], perRunLimits: LIMITS_1_2, ...overrides };
}

const peak = (cpuPercent: number, memoryGiB: number): ResourcePeak => ({
  cpuPercent,
  memoryBytes: memoryGiB * GiB,
  pids: 10,
});
const healthy = (n: number, level: HealthLevel = 'HEALTHY') => Array.from({ length: n }, (_, i) => ({ containerId: `container-${i}`, level }));

describe('calculateRecommendedConcurrency', () => {
  it.each<[string, Partial<ConcurrencyAdviceInput>, number]>([
    // No history: 0.8×8/1 = 6.4 and 0.8×16/2 = 6.4 → clamped to 4.
    ['no history, roomy host: limits as the estimate, clamped to 4', {}, 4],
    // 0.8×2/1 = 1.6 and 0.8×4/2 = 1.6 → 1.
    ['no history, small host', { host: { cpus: 2, memoryBytes: 4 * GiB } }, 1],
    // CPU-bound: 6.4 / 2.0 CPUs = 3.2; memory 12.8 / 1 = 12.8 → 3.
    ['CPU-bound by measured peaks', { recentPeaks: [peak(150, 1), peak(200, 0.5)] }, 3],
    // CPU-bound: 6.4 / 2.5 = 2.56 → 2.
    ['CPU-bound, heavier', { recentPeaks: [peak(250, 1)] }, 2],
    // Memory-bound: 12.8 / 5 = 2.56 → 2, though CPU would allow 12.8.
    ['memory-bound by measured peaks', { recentPeaks: [peak(50, 5)] }, 2],
    // 6.4 / 4 = 1.6 → 1.
    ['a run that takes half the host', { recentPeaks: [peak(400, 1)] }, 1],
    // Light measured runs beat their limits: 6.4 / 0.5 = 12.8, 12.8 / 0.25 = 51 → 4.
    ['light measured runs reach 4', { recentPeaks: [peak(50, 0.25)], perRunLimits: { cpus: 4, memoryBytes: 8 * GiB } }, 4],
    // Floored at 10 % of the limits: 6.4 / 0.1 = 64 and 12.8 / 0.2 = 64 → 4.
    ['runs that used nothing do not divide by zero', { recentPeaks: [peak(0, 0)] }, 4],
    // Floored at 10 % of 8 CPUs / 64 GiB: 6.4 / 0.8 = 8, 12.8 / 6.4 = 2 → 2 (unfloored: 640 and 1280 → 4).
    ['tiny peaks count as 10% of the per-run limits', { recentPeaks: [peak(1, 0.01)], perRunLimits: { cpus: 8, memoryBytes: 64 * GiB } }, 2],
    ['any CRITICAL container → 1', { containers: [...healthy(2), { containerId: 'hot', level: 'CRITICAL' }] }, 1],
    ['any WARNING container → at most 2', { containers: [...healthy(2), { containerId: 'warm', level: 'WARNING' }] }, 2],
    ['WARNING does not raise a lower figure', { containers: healthy(1, 'WARNING'), host: { cpus: 2, memoryBytes: 4 * GiB } }, 1],
    ['UNKNOWN containers do not count against', { containers: healthy(3, 'UNKNOWN') }, 4],
    ['engine unreachable → 1', { host: null }, 1],
  ])('%s → %i', (_name, overrides, expected) => {
    const result = calculateRecommendedConcurrency(input(overrides));
    expect(result.recommended).toBe(expected);
    expect(result.reason).toMatch(/\.$/);
  });

  it('explains the arithmetic', () => {
    expect(calculateRecommendedConcurrency(input({ recentPeaks: [peak(200, 1)] })).reason).toBe(
      'Headroom: 80% of 8 CPUs / 2 CPUs per run = 3.2; 80% of 16 GiB / 1 GiB per run = 12.8 (peak use of 1 recent run) → 3.',
    );
    expect(calculateRecommendedConcurrency(input({ containers: healthy(1, 'CRITICAL') })).reason).toBe(
      'Container container-0 is CRITICAL: run one agent at a time.',
    );
    expect(calculateRecommendedConcurrency(input()).reason).toContain('per-run limits, no run measured yet');
    expect(calculateRecommendedConcurrency(input({ host: { cpus: 2, memoryBytes: 4 * GiB }, recentPeaks: [peak(0, 0)] })).reason).toBe(
      'Headroom: 80% of 2 CPUs / 0.1 CPUs per run = 16; 80% of 4 GiB / 0.2 GiB per run = 16 ' +
        '(peak use of 1 recent run, at least 10% of the per-run limits) → 4.',
    );
  });

  it('validates its input eagerly', () => {
    expect(() => calculateRecommendedConcurrency(input({ host: { cpus: 0, memoryBytes: GiB } }))).toThrow(
      'Expected host CPUs to be a number above 0, got 0',
    );
    expect(() => calculateRecommendedConcurrency(input({ current: -1 }))).toThrow(
      'Expected current concurrency to be an integer of at least 0, got -1',
    );
  });
});

describe('canIncreaseConcurrency', () => {
  it.each<[number, Partial<ConcurrencyAdviceInput>, boolean]>([
    [1, {}, true],
    [3, {}, true],
    [4, {}, false],
    [6, {}, false],
    [0, {}, false], // unlimited cannot be increased
    [1, { containers: healthy(1, 'CRITICAL') }, false],
    [1, { containers: healthy(1, 'WARNING') }, true],
    [2, { containers: healthy(1, 'WARNING') }, false],
  ])('current %i → %s', (current, overrides, expected) => {
    expect(canIncreaseConcurrency(input({ ...overrides, current }))).toBe(expected);
    expect(adviseConcurrency(input({ ...overrides, current })).canIncrease).toBe(expected);
  });

  it('adviseConcurrency carries current, recommended and reason', () => {
    expect(adviseConcurrency(input({ current: 2, recentPeaks: [peak(200, 1)] }))).toEqual({
      current: 2,
      recommended: 3,
      canIncrease: true,
      reason: expect.stringMatching(/^Headroom: .* → 3\.$/) as string,
    });
  });
});
