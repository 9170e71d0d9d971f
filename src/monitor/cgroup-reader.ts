/**
 * Reads one container's counters from its cgroup files, and the host's CPU time from /proc/stat,
 * the files the Docker engine reads for `docker stats`:
 *
 * | figure | cgroup v1 | cgroup v2 |
 * |---|---|---|
 * | CPU time | cpuacct.usage (ns) | cpu.stat `usage_usec` |
 * | memory | memory.usage_in_bytes | memory.current |
 * | page cache left out | memory.stat `total_inactive_file` | memory.stat `inactive_file` |
 * | memory limit | memory.limit_in_bytes | memory.max |
 * | processes | pids.current | pids.current |
 * | pids limit | pids.max | pids.max |
 *
 * Reads are synchronous `pread`s at offset 0 of descriptors kept open: the kernel renders a
 * cgroup file afresh at each read from the start, so one system call per file and reading costs a
 * few microseconds per file (opening a file costs twice that again, and the promise API ten times
 * more). The limits change only on `docker update`, so they are read at open and then every
 * {@link LIMITS_EVERY_READS} readings, with descriptors that are not kept.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupDirs } from './cgroup-layout.js';

/** One reading of a container's cgroup counters. */
export interface CgroupReading {
  /** CPU time used since the container started, in nanoseconds. */
  readonly cpuUsageNs: number;
  readonly memoryUsageBytes: number;
  /** The inactive page cache, which `docker stats` leaves out of the memory figure. */
  readonly inactiveFileBytes: number;
  /** Infinity when there is no limit. */
  readonly memoryLimitBytes: number;
  readonly pids: number;
  /** null when there is no limit. */
  readonly pidsLimit: number | null;
}

/** The limits are read again after this many readings. */
export const LIMITS_EVERY_READS = 10;

/** Big enough for memory.stat (about 1.5 KB on v2) and the start of /proc/stat. */
const BUFFER_BYTES = 16 * 1024;

/** One buffer for every read: reads are synchronous, so no two use it at once. */
const buffer = Buffer.allocUnsafe(BUFFER_BYTES);

/** The text of the file open at `fd`, read from its start. */
function preadText(fd: number): string {
  const bytes = readSync(fd, buffer, 0, BUFFER_BYTES, 0);
  return buffer.toString('latin1', 0, bytes);
}

/** The text of the file at `path`, opened and closed again. */
function readText(path: string): string {
  const fd = openSync(path, 'r');
  try {
    return preadText(fd);
  } finally {
    closeSync(fd);
  }
}

/** A number file (`123\n`), or `max` → `whenMax`. */
export function parseCount(text: string, whenMax: number | null = null): number | null {
  const trimmed = text.trim();
  if (trimmed === 'max') return whenMax;
  const value = Number(trimmed);
  if (trimmed === '' || !Number.isFinite(value)) throw new Error(`not a number: ${JSON.stringify(trimmed.slice(0, 40))}`);
  return value;
}

/** The value of `key` in a flat-keyed file (memory.stat, cpu.stat: `key value` lines); undefined when absent. */
export function statField(text: string, key: string): number | undefined {
  let at = text.startsWith(`${key} `) ? 0 : text.indexOf(`\n${key} `);
  if (at === -1) return undefined;
  if (at > 0) at += 1;
  const start = at + key.length + 1;
  const end = text.indexOf('\n', start);
  const value = Number(text.slice(start, end === -1 ? undefined : end));
  return Number.isFinite(value) ? value : undefined;
}

/** The file names of one version, in the order of {@link CgroupFiles}' descriptors. */
const FILES = {
  1: { cpu: 'cpuacct.usage', memory: 'memory.usage_in_bytes', stat: 'memory.stat', memoryLimit: 'memory.limit_in_bytes' },
  2: { cpu: 'cpu.stat', memory: 'memory.current', stat: 'memory.stat', memoryLimit: 'memory.max' },
} as const;

/** One container's cgroup files, read again at each {@link read}. */
export class CgroupFiles {
  readonly dirs: CgroupDirs;
  /** Whether the files read at each reading stay open between readings. */
  readonly keepsOpen: boolean;
  private readonly paths: readonly string[];
  private readonly memoryLimitPath: string;
  private readonly pidsLimitPath: string;
  /** Open descriptors of `paths`, when kept. */
  private fds: (number | undefined)[] = [];
  private limits: { readonly memoryLimitBytes: number; readonly pidsLimit: number | null } | null = null;
  private readsSinceLimits = 0;

  /**
   * @param keepOpen keep the 4 files read at each reading open between readings (cheaper; costs
   *   4 file descriptors), or open and close them every time.
   */
  constructor(dirs: CgroupDirs, keepOpen: boolean) {
    this.dirs = dirs;
    this.keepsOpen = keepOpen;
    const names = FILES[dirs.version];
    this.paths = [join(dirs.cpu, names.cpu), join(dirs.memory, names.memory), join(dirs.memory, names.stat), join(dirs.pids, 'pids.current')];
    this.memoryLimitPath = join(dirs.memory, names.memoryLimit);
    this.pidsLimitPath = join(dirs.pids, 'pids.max');
  }

  /** File descriptors this reader holds now. */
  get openDescriptors(): number {
    return this.fds.filter((fd) => fd !== undefined).length;
  }

  /**
   * Reads every counter now.
   * @throws the file system's error when a file cannot be opened or read (ENOENT or ENODEV once
   *   the container is gone), or Error for content that does not parse; the reader's descriptors
   *   are closed then, and the next read opens them again.
   */
  read(): CgroupReading {
    try {
      const cpuText = this.text(0);
      const memoryText = this.text(1);
      const statText = this.text(2);
      const pidsText = this.text(3);
      if (this.limits === null || this.readsSinceLimits >= LIMITS_EVERY_READS) {
        this.limits = {
          memoryLimitBytes: parseCount(readText(this.memoryLimitPath), Number.POSITIVE_INFINITY)!,
          pidsLimit: parseCount(readText(this.pidsLimitPath)),
        };
        this.readsSinceLimits = 0;
      }
      this.readsSinceLimits += 1;
      const v1 = this.dirs.version === 1;
      const usageUsec = v1 ? undefined : statField(cpuText, 'usage_usec');
      if (!v1 && usageUsec === undefined) throw new Error('cpu.stat has no usage_usec');
      return {
        cpuUsageNs: v1 ? parseCount(cpuText)! : usageUsec! * 1_000,
        memoryUsageBytes: parseCount(memoryText)!,
        inactiveFileBytes: statField(statText, v1 ? 'total_inactive_file' : 'inactive_file') ?? 0,
        memoryLimitBytes: this.limits.memoryLimitBytes,
        pids: parseCount(pidsText)!,
        pidsLimit: this.limits.pidsLimit,
      };
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** Closes the descriptors kept open. Idempotent; a later read opens them again. */
  close(): void {
    for (const fd of this.fds) {
      if (fd === undefined) continue;
      try {
        closeSync(fd);
      } catch {
        // Already gone with its cgroup: nothing to release.
      }
    }
    this.fds = [];
    this.limits = null;
  }

  private text(index: number): string {
    const path = this.paths[index]!;
    if (!this.keepsOpen) return readText(path);
    let fd = this.fds[index];
    if (fd === undefined) {
      fd = openSync(path, 'r');
      this.fds[index] = fd;
    }
    return preadText(fd);
  }
}

/**
 * The host's CPU time as the engine counts it for `docker stats`' `system_cpu_usage`: the first
 * seven fields of /proc/stat's `cpu` line (user to softirq), in clock ticks of 10 ms (USER_HZ is
 * 100 on Linux, and the engine takes it as such), in nanoseconds.
 */
export class HostCpuClock {
  private readonly path: string;
  private fd: number | undefined;

  constructor(path = '/proc/stat') {
    this.path = path;
  }

  /** The host's CPU time now in nanoseconds; null when /proc/stat cannot be read. */
  readNs(): number | null {
    try {
      this.fd ??= openSync(this.path, 'r');
      return parseProcStatCpuNs(preadText(this.fd));
    } catch {
      this.close();
      return null;
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // Nothing to release.
    }
    this.fd = undefined;
  }
}

const NS_PER_TICK = 10_000_000;

/** The `cpu` line's first seven fields × 10 ms, in nanoseconds; throws when the line is not there. */
export function parseProcStatCpuNs(text: string): number {
  if (!text.startsWith('cpu ')) throw new Error('/proc/stat does not start with the cpu line');
  const end = text.indexOf('\n');
  const fields = text
    .slice(4, end === -1 ? undefined : end)
    .trim()
    .split(/\s+/);
  if (fields.length < 7) throw new Error('/proc/stat: too few fields on the cpu line');
  let ticks = 0;
  for (let index = 0; index < 7; index += 1) ticks += Number(fields[index]);
  if (!Number.isFinite(ticks)) throw new Error('/proc/stat: a cpu field is not a number');
  return ticks * NS_PER_TICK;
}
