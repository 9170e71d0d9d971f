/**
 * What bosun asks of Docker for a sandbox container: its image, limits, labels, user, a
 * read-only root with tmpfs mounts, no network and no capabilities, and a keep-alive process.
 * Pure, so the definition can be read (and tested) without an engine, and so that every way a
 * sandbox comes to exist gets exactly the same hardening.
 */
import type Docker from 'dockerode';
import { ownershipLabels } from './labels.js';
import { toNanoCpus, type SandboxLimits } from './limits.js';

/**
 * The container's main process: it ignores SIGTERM (so that stopping a step's processes with
 * `kill -TERM -1` leaves the sandbox up) and does nothing else. Init (docker-init) reaps zombies.
 * The sleep is as long as `sleep` allows here, 2³¹−1 seconds.
 */
const KEEP_ALIVE_COMMAND = ['sh', '-c', "trap '' TERM INT HUP; exec sleep 2147483647"];
/** The user agents run as unless a run says otherwise: never root by default. */
export const DEFAULT_SANDBOX_USER = '1000:1000';
/** The agent's working directory, a tmpfs owned by the sandbox user. */
export const SANDBOX_WORKSPACE_DIR = '/workspace';

/** How a sandbox is isolated beyond its resource limits. */
export interface SandboxIsolation {
  /** `uid[:gid]` the keep-alive and every exec run as. */
  readonly user: string;
  /** Size cap of the `/tmp` tmpfs (the root file system is read-only). */
  readonly tmpBytes: number;
  /** Size cap of the `/workspace` tmpfs, owned by the sandbox user. */
  readonly workspaceBytes: number;
  /** A Docker network to join, or null for none at all. */
  readonly network: string | null;
}

export const DEFAULT_ISOLATION: SandboxIsolation = Object.freeze({
  user: DEFAULT_SANDBOX_USER,
  tmpBytes: 256 * 1024 ** 2,
  workspaceBytes: 1024 ** 3,
  network: null,
});

export interface SandboxSpec {
  readonly image: string;
  readonly limits: SandboxLimits;
  readonly instanceId: string;
  readonly agentId: string;
  readonly isolation?: SandboxIsolation;
  /** Environment of the container (and so of every exec). */
  readonly env?: Readonly<Record<string, string>>;
  /** Container name; default `bosun-<agentId>`. */
  readonly name?: string;
}

/** The container name of a sandbox: known before the engine gives the container an id. */
export function containerName(spec: Pick<SandboxSpec, 'agentId' | 'name'>): string {
  return spec.name ?? `bosun-${spec.agentId}`;
}

/** The container definition for a sandbox (exported for tests and for reading what bosun asks of Docker). */
export function containerConfig(spec: SandboxSpec): Docker.ContainerCreateOptions {
  const isolation = spec.isolation ?? DEFAULT_ISOLATION;
  const [uid, gid] = parseUser(isolation.user);
  const network = isolation.network === null || isolation.network === 'none' ? null : isolation.network;
  return {
    name: containerName(spec),
    Image: spec.image,
    Cmd: KEEP_ALIVE_COMMAND,
    User: isolation.user,
    WorkingDir: SANDBOX_WORKSPACE_DIR,
    Env: Object.entries(spec.env ?? {}).map(([key, value]) => `${key}=${value}`),
    Labels: ownershipLabels(spec),
    NetworkDisabled: network === null,
    HostConfig: {
      NanoCpus: toNanoCpus(spec.limits.cpus),
      Memory: spec.limits.memoryBytes,
      MemorySwap: spec.limits.memoryBytes,
      PidsLimit: spec.limits.pidsLimit,
      NetworkMode: network ?? 'none',
      Init: true,
      Privileged: false,
      CapDrop: ['ALL'],
      // Docker's default seccomp profile applies because none is named; never `unconfined`.
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: true,
      Tmpfs: {
        '/tmp': `rw,nosuid,nodev,size=${isolation.tmpBytes},mode=1777`,
        [SANDBOX_WORKSPACE_DIR]: `rw,nosuid,nodev,size=${isolation.workspaceBytes},uid=${uid},gid=${gid},mode=0755`,
      },
      // Exec output does not go to the container log, but the keep-alive's would: cap it anyway.
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
    },
  };
}

function parseUser(user: string): [number, number] {
  const match = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!match) throw new TypeError(`Expected a numeric user such as 1000 or 1000:1000, got ${JSON.stringify(user)}`);
  const uid = Number(match[1]);
  return [uid, match[2] === undefined ? uid : Number(match[2])];
}
