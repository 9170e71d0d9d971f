/**
 * A cgroup hierarchy (v1 or v2) and a /proc in a temporary folder, with one container's files the
 * way the kernel lays them out, for the cgroup layout, reader and sampler tests. The counters are
 * written as plain files; reading a regular file from offset 0 sees what was written last, as
 * reading a cgroup file sees the kernel's current figure.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CgroupVersion } from '../../src/monitor/cgroup-layout.js';

export interface FakeCounters {
  cpuUsageNs: number;
  memoryUsageBytes: number;
  inactiveFileBytes: number;
  /** 'max' for no limit. */
  memoryLimit: number | 'max';
  pids: number;
  pidsLimit: number | 'max';
}

export const DEFAULT_COUNTERS: FakeCounters = {
  cpuUsageNs: 1_000_000_000,
  memoryUsageBytes: 100 * 1024 ** 2,
  inactiveFileBytes: 20 * 1024 ** 2,
  memoryLimit: 400 * 1024 ** 2,
  pids: 3,
  pidsLimit: 100,
};

/** What cgroup v1 shows for "no memory limit". */
const V1_NO_MEMORY_LIMIT = '9223372036854771712';

export class FakeCgroupHost {
  readonly dir = mkdtempSync(join(tmpdir(), 'bosun-cgroup-'));
  readonly root = join(this.dir, 'cgroup');
  readonly procRoot = join(this.dir, 'proc');
  readonly procStat = join(this.procRoot, 'stat');

  constructor(readonly version: CgroupVersion) {
    if (version === 2) {
      mkdirSync(this.root, { recursive: true });
      writeFileSync(join(this.root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    } else {
      for (const controller of ['cpuacct', 'memory', 'pids']) mkdirSync(join(this.root, controller), { recursive: true });
    }
    mkdirSync(this.procRoot, { recursive: true });
    this.setHostTicks(0);
  }

  /** The directory of `path` under each controller bosun reads (v2: one). */
  dirsOf(path: string): { cpu: string; memory: string; pids: string } {
    if (this.version === 2) {
      const dir = join(this.root, path);
      return { cpu: dir, memory: dir, pids: dir };
    }
    return { cpu: join(this.root, 'cpuacct', path), memory: join(this.root, 'memory', path), pids: join(this.root, 'pids', path) };
  }

  /** Creates (or updates) a cgroup at `path` (e.g. `/docker/<id>`) with these counters. */
  writeCgroup(path: string, counters: Partial<FakeCounters> = {}): void {
    const c = { ...DEFAULT_COUNTERS, ...counters };
    const dirs = this.dirsOf(path);
    for (const dir of new Set(Object.values(dirs))) mkdirSync(dir, { recursive: true });
    const limit = (value: number | 'max') => `${value}\n`;
    if (this.version === 2) {
      writeFileSync(join(dirs.cpu, 'cpu.stat'), `usage_usec ${c.cpuUsageNs / 1000}\nuser_usec 1\nsystem_usec 2\n`);
      writeFileSync(join(dirs.memory, 'memory.current'), `${c.memoryUsageBytes}\n`);
      writeFileSync(join(dirs.memory, 'memory.max'), limit(c.memoryLimit));
      writeFileSync(join(dirs.memory, 'memory.stat'), `anon 1\nfile 2\nactive_file 5\ninactive_file ${c.inactiveFileBytes}\nslab 0\n`);
    } else {
      writeFileSync(join(dirs.cpu, 'cpuacct.usage'), `${c.cpuUsageNs}\n`);
      writeFileSync(join(dirs.memory, 'memory.usage_in_bytes'), `${c.memoryUsageBytes}\n`);
      writeFileSync(join(dirs.memory, 'memory.limit_in_bytes'), c.memoryLimit === 'max' ? `${V1_NO_MEMORY_LIMIT}\n` : limit(c.memoryLimit));
      // The container's own inactive_file differs from the hierarchical total, which docker uses.
      writeFileSync(
        join(dirs.memory, 'memory.stat'),
        `cache 1\nrss 2\ninactive_file 7\nactive_file 5\nhierarchical_memory_limit 9\ntotal_cache 1\ntotal_inactive_file ${c.inactiveFileBytes}\ntotal_active_file 5\n`,
      );
    }
    writeFileSync(join(dirs.pids, 'pids.current'), `${c.pids}\n`);
    writeFileSync(join(dirs.pids, 'pids.max'), limit(c.pidsLimit));
  }

  /** Removes the cgroup at `path`, as the kernel does when the container is gone. */
  removeCgroup(path: string): void {
    for (const dir of new Set(Object.values(this.dirsOf(path)))) rmSync(dir, { recursive: true, force: true });
  }

  /** /proc/<pid>/cgroup listing `path` for every controller. */
  writeProcess(pid: number, path: string): void {
    mkdirSync(join(this.procRoot, String(pid)), { recursive: true });
    const text =
      this.version === 2 ? `0::${path}\n` : `12:pids:${path}\n11:memory:${path}\n4:cpu,cpuacct:${path}\n1:name=systemd:${path}\n0::${path}\n`;
    writeFileSync(join(this.procRoot, String(pid), 'cgroup'), text);
  }

  /** /proc/stat whose cpu line adds up to `ticks` clock ticks (of 10 ms). */
  setHostTicks(ticks: number): void {
    // user nice system idle iowait irq softirq steal guest guest_nice: steal is not counted.
    const user = Math.floor(ticks / 2);
    writeFileSync(this.procStat, `cpu  ${user} 0 0 ${ticks - user} 0 0 0 999 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\nintr 1 2 3\n`);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A container id as the engine makes them: 64 hex digits. */
export function containerId(seed: number): string {
  return seed.toString(16).padStart(64, 'a');
}
