/**
 * How many agents the host can run at once, from container health and measured use. Pure.
 *
 * The formula (quoted by the README):
 *
 * ```text
 * any container CRITICAL      → 1
 * host capacity unknown       → 1
 * otherwise
 *   perRunCpus        = max over recent runs of (peak cpuPercent / 100)   — no runs yet: the per-run CPU limit
 *   perRunMemoryBytes = max over recent runs of peak memory bytes         — no runs yet: the per-run memory limit
 *   each at least 10 % of the per-run limit (a run that barely used anything still gets started
 *   with its full limits and may use them: it is not counted as free)
 *   byCpu             = 0.8 × hostCpus        / perRunCpus                  (keep 20 % of the host free)
 *   byMemory          = 0.8 × hostMemoryBytes / perRunMemoryBytes
 *   recommended       = clamp(⌊min(byCpu, byMemory)⌋, 1, 4)
 *   any container WARNING → min(recommended, 2)
 * canIncrease = current ≠ 0 (0 = unlimited) and recommended > current
 * ```
 */
import { InvalidValueError } from '../errors.js';
import type { ConcurrencyAdvice, HealthLevel, HostCapacity, ResourcePeak } from './monitor-types.js';
import { checkInteger } from '../shared/validate.js';

/** The share of the host's CPUs and memory that runs may use; the rest stays free. */
export const HOST_USABLE_FRACTION = 0.8;
export const MIN_RECOMMENDED_CONCURRENCY = 1;
export const MAX_RECOMMENDED_CONCURRENCY = 4;
/** The most that any container at WARNING allows. */
export const WARNING_CONCURRENCY_CAP = 2;
/**
 * The least share of its limits a run is assumed to use, whatever its measured peak: 10 %.
 * Without it, runs that measured next to nothing (a step that only sleeps, or a peak taken before
 * the first CPU reading) made the estimate 0 CPUs per run and the headroom "∞". Relative to the
 * limits rather than absolute so that it scales with what a run is allowed to take.
 */
export const MIN_PER_RUN_SHARE_OF_LIMITS = 0.1;

export interface ConcurrencyAdviceInput {
  /** The queue's limit now; 0 = unlimited. */
  readonly current: number;
  /** The host's capacity (`docker info`); null when the engine cannot be reached. */
  readonly host: HostCapacity | null;
  /** The health of every monitored container. */
  readonly containers: readonly { readonly containerId: string; readonly level: HealthLevel }[];
  /** Peak use of recent runs (running and recently finished). */
  readonly recentPeaks: readonly ResourcePeak[];
  /** The limits one run gets, the use estimate before any run has been measured. */
  readonly perRunLimits: { readonly cpus: number; readonly memoryBytes: number };
}

export interface RecommendedConcurrency {
  /** 1 to 4. */
  readonly recommended: number;
  /** One sentence on why, for people. */
  readonly reason: string;
}

/**
 * The concurrency the host can take now (1 to 4), by the formula in this module's header.
 * @throws InvalidValueError for an input that is not a count or capacity.
 */
export function calculateRecommendedConcurrency(input: ConcurrencyAdviceInput): RecommendedConcurrency {
  validateInput(input);
  const critical = input.containers.filter((c) => c.level === 'CRITICAL');
  if (critical.length > 0) {
    return {
      recommended: MIN_RECOMMENDED_CONCURRENCY,
      reason: `${describeContainers(critical.map((c) => c.containerId))} CRITICAL: run one agent at a time.`,
    };
  }
  if (input.host === null) {
    return {
      recommended: MIN_RECOMMENDED_CONCURRENCY,
      reason: 'Host capacity unknown (the Docker engine cannot be reached): run one agent at a time.',
    };
  }

  const measured = input.recentPeaks.length > 0;
  const minCpus = MIN_PER_RUN_SHARE_OF_LIMITS * input.perRunLimits.cpus;
  const minMemoryBytes = MIN_PER_RUN_SHARE_OF_LIMITS * input.perRunLimits.memoryBytes;
  const peakCpus = measured ? Math.max(...input.recentPeaks.map((peak) => peak.cpuPercent / 100)) : input.perRunLimits.cpus;
  const peakMemoryBytes = measured ? Math.max(...input.recentPeaks.map((peak) => peak.memoryBytes)) : input.perRunLimits.memoryBytes;
  const perRunCpus = Math.max(peakCpus, minCpus);
  const perRunMemoryBytes = Math.max(peakMemoryBytes, minMemoryBytes);
  const byCpu = (HOST_USABLE_FRACTION * input.host.cpus) / perRunCpus;
  const byMemory = (HOST_USABLE_FRACTION * input.host.memoryBytes) / perRunMemoryBytes;
  const headroom = clamp(Math.floor(Math.min(byCpu, byMemory)));
  const floored = peakCpus < minCpus || peakMemoryBytes < minMemoryBytes;
  const basis = measured
    ? `peak use of ${input.recentPeaks.length} recent run${input.recentPeaks.length === 1 ? '' : 's'}` +
      (floored ? `, at least ${MIN_PER_RUN_SHARE_OF_LIMITS * 100}% of the per-run limits` : '')
    : 'per-run limits, no run measured yet';
  const arithmetic =
    `80% of ${round(input.host.cpus)} CPUs / ${round(perRunCpus)} CPUs per run = ${round(byCpu)}; ` +
    `80% of ${formatGiB(input.host.memoryBytes)} / ${formatGiB(perRunMemoryBytes)} per run = ${round(byMemory)} (${basis})`;

  const warning = input.containers.filter((c) => c.level === 'WARNING');
  if (warning.length > 0 && headroom > WARNING_CONCURRENCY_CAP) {
    return {
      recommended: WARNING_CONCURRENCY_CAP,
      reason: `${describeContainers(warning.map((c) => c.containerId))} WARNING: at most ${WARNING_CONCURRENCY_CAP} (${arithmetic}).`,
    };
  }
  return { recommended: headroom, reason: `Headroom: ${arithmetic} → ${headroom}.` };
}

/** Whether the queue may take more: recommended > current, and never when current is 0 (unlimited). */
export function canIncreaseConcurrency(input: ConcurrencyAdviceInput): boolean {
  return input.current !== 0 && calculateRecommendedConcurrency(input).recommended > input.current;
}

/** The full advice: current, recommended, whether to increase, and why. */
export function adviseConcurrency(input: ConcurrencyAdviceInput): ConcurrencyAdvice {
  const { recommended, reason } = calculateRecommendedConcurrency(input);
  return { current: input.current, recommended, canIncrease: input.current !== 0 && recommended > input.current, reason };
}

function clamp(value: number): number {
  if (Number.isNaN(value)) return MIN_RECOMMENDED_CONCURRENCY;
  return Math.min(MAX_RECOMMENDED_CONCURRENCY, Math.max(MIN_RECOMMENDED_CONCURRENCY, value));
}

function validateInput(input: ConcurrencyAdviceInput): void {
  checkInteger('current concurrency', input.current, { min: 0 });
  if (input.host !== null) {
    positiveNumber('host CPUs', input.host.cpus);
    positiveNumber('host memory bytes', input.host.memoryBytes);
  }
  positiveNumber('per-run CPUs', input.perRunLimits.cpus);
  positiveNumber('per-run memory bytes', input.perRunLimits.memoryBytes);
  for (const peak of input.recentPeaks) {
    nonNegativeNumber('peak cpuPercent', peak.cpuPercent);
    nonNegativeNumber('peak memoryBytes', peak.memoryBytes);
  }
}

function positiveNumber(name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidValueError(`${name} to be a number above 0`, value);
  }
}

function nonNegativeNumber(name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidValueError(`${name} to be a number of at least 0`, value);
  }
}

function describeContainers(ids: readonly string[]): string {
  const shown = ids
    .slice(0, 3)
    .map((id) => id.slice(0, 12))
    .join(', ');
  const more = ids.length > 3 ? ` and ${ids.length - 3} more` : '';
  return ids.length === 1 ? `Container ${shown} is` : `Containers ${shown}${more} are`;
}

function round(value: number): string {
  return String(Number(value.toFixed(2)));
}

function formatGiB(bytes: number): string {
  return `${round(bytes / 1024 ** 3)} GiB`;
}
