/**
 * Where a container's cgroup files are on this host, for reading its figures directly (see
 * cgroup-file-sampler.ts). Handles cgroup v1 (one hierarchy per controller, also the "hybrid"
 * set-up where Docker uses v1) and v2 (one unified hierarchy), and Docker's two cgroup drivers:
 * - cgroupfs: `<parent, default /docker>/<id>`;
 * - systemd: `<parent slice, default system.slice>/docker-<id>.scope`.
 * Those two conventions find a default set-up's containers from the id alone, with no call to
 * the engine; otherwise the container's main process says where it is (`/proc/<pid>/cgroup`,
 * when bosun sees the engine's processes). A directory is taken only once the file bosun reads
 * first is there, so a path that does not exist from where bosun runs (an engine in a VM, bosun
 * in a container of its own) is never taken for the container's.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type CgroupVersion = 1 | 2;

/** The directories holding one container's files, per controller (v2: one directory for all). */
export interface CgroupDirs {
  readonly version: CgroupVersion;
  /** v1: the cpuacct controller's; v2: the container's directory. */
  readonly cpu: string;
  /** v1: the memory controller's. */
  readonly memory: string;
  /** v1: the pids controller's. */
  readonly pids: string;
}

/** What the engine says about a container that tells where its cgroup is. */
export interface CgroupPlacement {
  /** Its main process, as the host sees it; null when it is not running. */
  readonly pid: number | null;
  /** `HostConfig.CgroupParent`; null for the engine's default. */
  readonly cgroupParent: string | null;
}

/** The v1 controllers bosun reads and the file it looks for to accept a directory. */
const V1_CONTROLLERS = { cpu: ['cpuacct', 'cpu,cpuacct'], memory: ['memory'], pids: ['pids'] } as const;
const PROBE_FILE = { 1: 'cpuacct.usage', 2: 'cpu.stat' } as const;

const readable = (path: string): boolean => {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
};

export interface CgroupLayoutOptions {
  /** Where the cgroup file systems are mounted; default `/sys/fs/cgroup`. */
  readonly root?: string;
  /** Where the host's processes are; default `/proc`. */
  readonly procRoot?: string;
}

export class CgroupLayout {
  readonly root: string;
  readonly version: CgroupVersion;
  private readonly procRoot: string;
  /** v1: the mount of each controller bosun reads. */
  private readonly mounts: { readonly cpu: string; readonly memory: string; readonly pids: string };

  private constructor(root: string, version: CgroupVersion, procRoot: string) {
    this.root = root;
    this.version = version;
    this.procRoot = procRoot;
    this.mounts =
      version === 2
        ? { cpu: root, memory: root, pids: root }
        : { cpu: v1Mount(root, 'cpu')!, memory: v1Mount(root, 'memory')!, pids: v1Mount(root, 'pids')! };
  }

  /**
   * The layout of this host's cgroups: v2 when the root is the unified hierarchy (it has
   * `cgroup.controllers`), v1 when it holds readable cpuacct, memory and pids hierarchies (also
   * in the hybrid set-up, where Docker uses v1). Null when neither can be read: the files are not
   * an option here.
   */
  static detect(options: CgroupLayoutOptions = {}): CgroupLayout | null {
    const root = options.root ?? '/sys/fs/cgroup';
    const procRoot = options.procRoot ?? '/proc';
    if (readable(join(root, 'cgroup.controllers'))) return new CgroupLayout(root, 2, procRoot);
    const v1 = (['cpu', 'memory', 'pids'] as const).every((controller) => v1Mount(root, controller) !== undefined);
    return v1 ? new CgroupLayout(root, 1, procRoot) : null;
  }

  /**
   * The container's directories by Docker's conventions (the engine's default parent, or
   * `cgroupParent`, under either driver); null when none of them is there.
   */
  byConvention(containerId: string, cgroupParent: string | null = null): CgroupDirs | null {
    if (!/^[0-9a-f]{64}$/.test(containerId)) return null;
    const candidates = [
      join(cgroupParent ?? '/docker', containerId),
      join(cgroupParent === null ? '/system.slice' : systemdSlicePath(cgroupParent), `docker-${containerId}.scope`),
    ];
    for (const path of candidates) {
      const dirs = this.dirsAt({ cpu: path, memory: path, pids: path });
      if (dirs !== null) return dirs;
    }
    return null;
  }

  /** The directories of process `pid`'s cgroups (`/proc/<pid>/cgroup`); null when they cannot be read. */
  ofProcess(pid: number): CgroupDirs | null {
    let text: string;
    try {
      text = readFileSync(join(this.procRoot, String(pid), 'cgroup'), 'latin1');
    } catch {
      return null;
    }
    const paths = parseProcCgroup(text);
    if (this.version === 2) {
      const path = paths.get('');
      return path === undefined ? null : this.dirsAt({ cpu: path, memory: path, pids: path });
    }
    const cpu = paths.get('cpuacct');
    const memory = paths.get('memory');
    const pids = paths.get('pids');
    if (cpu === undefined || memory === undefined || pids === undefined) return null;
    return this.dirsAt({ cpu, memory, pids });
  }

  /**
   * Where the container is: by convention first (no engine call), then from what the engine says
   * of it. Null when its files cannot be found from here.
   */
  locate(containerId: string, placement: CgroupPlacement | null = null): CgroupDirs | null {
    if (placement === null) return this.byConvention(containerId);
    return (
      (placement.pid !== null && placement.pid > 0 ? this.ofProcess(placement.pid) : null) ??
      (placement.cgroupParent === null ? null : this.byConvention(containerId, placement.cgroupParent))
    );
  }

  /** The directories of these cgroup paths, when the first file bosun reads is there. */
  private dirsAt(paths: { readonly cpu: string; readonly memory: string; readonly pids: string }): CgroupDirs | null {
    // A path from /proc of a process outside bosun's cgroup namespace starts with "/..".
    if (Object.values(paths).some((path) => path.split('/').includes('..'))) return null;
    const dirs: CgroupDirs = {
      version: this.version,
      cpu: join(this.mounts.cpu, paths.cpu),
      memory: join(this.mounts.memory, paths.memory),
      pids: join(this.mounts.pids, paths.pids),
    };
    return readable(join(dirs.cpu, PROBE_FILE[this.version])) ? dirs : null;
  }
}

/** The mount of a v1 controller under `root`, if one is readable. */
function v1Mount(root: string, controller: keyof typeof V1_CONTROLLERS): string | undefined {
  return V1_CONTROLLERS[controller].map((name) => join(root, name)).find((path) => readable(path));
}

/**
 * `/proc/<pid>/cgroup` as a map from controller to path: v1 lines `N:cpu,cpuacct:/docker/<id>`
 * give one entry per controller; the v2 line `0::/path` gives the entry ''.
 */
export function parseProcCgroup(text: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first === -1 || second === -1) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (controllers === '') paths.set('', path);
    else for (const controller of controllers.split(',')) paths.set(controller, path);
  }
  return paths;
}

/**
 * Where systemd puts a slice: `a-b-c.slice` is `/a.slice/a-b.slice/a-b-c.slice`, `-.slice` the
 * root. A parent that is not a slice name is taken as a path.
 */
export function systemdSlicePath(slice: string): string {
  if (!slice.endsWith('.slice') || slice.includes('/')) return slice;
  if (slice === '-.slice') return '/';
  const parts = slice.slice(0, -'.slice'.length).split('-');
  return '/' + parts.map((_, index) => `${parts.slice(0, index + 1).join('-')}.slice`).join('/');
}
