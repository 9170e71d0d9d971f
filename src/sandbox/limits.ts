/**
 * Pure parsing and formatting of sandbox resource limits: memory sizes, CPUs and pids.
 * Every parser throws {@link InvalidValueError} ("Expected X, got Y") on bad input.
 */
import { InvalidValueError } from '../errors.js';
import { isIntegerInRange } from '../shared/validate.js';

/** The limits applied to one sandbox container. */
export interface SandboxLimits {
  /** CPUs the container may use, e.g. 1 or 0.5 (Docker `--cpus`). */
  readonly cpus: number;
  /** Memory limit in bytes; swap is disabled (MemorySwap equals it). */
  readonly memoryBytes: number;
  /** Maximum number of processes and threads in the container. */
  readonly pidsLimit: number;
}

/** Docker refuses memory limits under 6 MiB. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
/** Below this the sandbox cannot even run its keep-alive process and a shell step. */
export const MIN_PIDS_LIMIT = 16;
/** Linux's largest pid_max. */
export const MAX_PIDS_LIMIT = 4_194_304;
/** Docker's CPU quota resolution: 0.01 CPUs. */
export const MIN_CPUS = 0.01;

const MEMORY_EXPECTED = 'a size such as 512m or 2g (units b, k, m, g; at least 6m)';
const MEMORY_PATTERN = /^(\d+(?:\.\d+)?)([bkmg])?$/i;
const UNIT_BYTES: Readonly<Record<string, number>> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Parses a memory size ("512m", "2g", "1.5g", "1048576b", "67108864") into bytes. */
export function parseMemoryBytes(input: string): number {
  if (typeof input !== 'string') throw new InvalidValueError(MEMORY_EXPECTED, input);
  const match = MEMORY_PATTERN.exec(input.trim());
  if (!match) throw new InvalidValueError(MEMORY_EXPECTED, input);
  const amount = Number(match[1]);
  const unit = (match[2] ?? 'b').toLowerCase();
  const bytes = Math.floor(amount * (UNIT_BYTES[unit] ?? 1));
  if (!Number.isSafeInteger(bytes) || bytes < MIN_MEMORY_BYTES) {
    throw new InvalidValueError(MEMORY_EXPECTED, input);
  }
  return bytes;
}

/** Renders bytes the way a user writes them: 2147483648 → "2g", 67108864 → "64m". */
export function formatMemory(bytes: number): string {
  for (const unit of ['g', 'm', 'k'] as const) {
    const size = UNIT_BYTES[unit] ?? 1;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}b`;
}

/**
 * Parses a CPU count: a decimal of at least 0.01 and at most `hostCpus`.
 * Accepts a number or a decimal string ("1.5"); exponents, NaN and infinities are refused.
 */
export function parseCpus(input: string | number, hostCpus: number): number {
  const expected = `a number of CPUs from ${MIN_CPUS} to ${hostCpus} (this host's CPUs)`;
  let value: number;
  if (typeof input === 'number') {
    value = input;
  } else if (typeof input === 'string' && /^\d+(?:\.\d+)?$/.test(input.trim())) {
    value = Number(input.trim());
  } else {
    throw new InvalidValueError(expected, input);
  }
  if (!Number.isFinite(value) || value < MIN_CPUS || value > hostCpus) {
    throw new InvalidValueError(expected, input);
  }
  return value;
}

/** Parses a pids limit: an integer from 16 to 4194304. Accepts a number or an integer string. */
export function parsePidsLimit(input: string | number): number {
  const expected = `an integer from ${MIN_PIDS_LIMIT} to ${MAX_PIDS_LIMIT}`;
  let value: number;
  if (typeof input === 'number') {
    value = input;
  } else if (typeof input === 'string' && /^\d+$/.test(input.trim())) {
    value = Number(input.trim());
  } else {
    throw new InvalidValueError(expected, input);
  }
  if (!isIntegerInRange(value, { min: MIN_PIDS_LIMIT, max: MAX_PIDS_LIMIT })) {
    throw new InvalidValueError(expected, input);
  }
  return value;
}

/** Docker's `HostConfig.NanoCpus` for a CPU count. */
export function toNanoCpus(cpus: number): number {
  return Math.round(cpus * 1e9);
}

/** One line for logs: "cpus=1 memory=2g pids=1000". */
export function describeLimits(limits: SandboxLimits): string {
  return `cpus=${limits.cpus} memory=${formatMemory(limits.memoryBytes)} pids=${limits.pidsLimit}`;
}
