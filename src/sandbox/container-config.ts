/**
 * What bosun asks of Docker for a sandbox container: its image, limits, labels, user, a
 * read-only root with tmpfs mounts, no network and no capabilities, and a keep-alive process.
 * Pure, so the definition can be read (and tested) without an engine, and so that every way a
 * sandbox comes to exist gets exactly the same hardening.
 */
import type Docker from 'dockerode';
import { posix } from 'node:path';
import { parseImageReference } from './image-reference.js';
import { ownershipLabels } from './labels.js';
import { toNanoCpus, type SandboxLimits } from './limits.js';
import { SandboxError } from './sandbox-errors.js';
import { parseSandboxUser } from './sandbox-user.js';

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
  /** Size cap of the `/tmp` tmpfs (the root file system is read-only), and of each volume the image declares. */
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
  readonly runId: string;
  readonly isolation?: SandboxIsolation;
  /** Environment of the container (and so of every exec). */
  readonly env?: Readonly<Record<string, string>>;
  /** Container name; default `bosun-<runId>`. */
  readonly name?: string;
  /** Created ahead of time for the warm pool: labelled `bosun.pool=true` (see labels.ts). */
  readonly pool?: boolean;
}

/** The container name of a sandbox: known before the engine gives the container an id. */
export function containerName(spec: Pick<SandboxSpec, 'runId' | 'name'>): string {
  return spec.name ?? `bosun-${spec.runId}`;
}

/**
 * The container definition for a sandbox (exported for tests and for reading what bosun asks of Docker).
 *
 * Every writable place is a size-capped tmpfs, mounted `exec` (an agent runs what it writes or
 * installs: `./gradlew`, `node_modules/.bin/*`; the engine's tmpfs default is noexec) but
 * `nosuid,nodev`. That includes each `VOLUME` the image declares (`imageVolumes`, from its
 * inspect): left alone, the engine would back it with an anonymous volume on the host's disk,
 * without any limit. Files in tmpfs are memory, counted against the container's memory limit.
 * @throws InvalidValueError for an image reference or user the engine would refuse,
 *   SandboxError DOCKER_ERROR for a declared volume that cannot be a tmpfs (not absolute, or `/`).
 */
export function containerConfig(spec: SandboxSpec, imageVolumes: readonly string[] = []): Docker.ContainerCreateOptions {
  const isolation = spec.isolation ?? DEFAULT_ISOLATION;
  parseImageReference(spec.image);
  const { uid, gid } = parseSandboxUser(isolation.user);
  const tmpfs: Record<string, string> = {
    '/tmp': `rw,exec,nosuid,nodev,size=${isolation.tmpBytes},mode=1777`,
    [SANDBOX_WORKSPACE_DIR]: `rw,exec,nosuid,nodev,size=${isolation.workspaceBytes},uid=${uid},gid=${gid},mode=0755`,
  };
  for (const declared of imageVolumes) {
    // The engine cleans the path the same way before it matches mounts against declared volumes.
    const path = posix.normalize(declared).replace(/(.)\/+$/, '$1');
    if (!path.startsWith('/') || path === '/' || path.includes('\0')) {
      throw new SandboxError(
        'DOCKER_ERROR',
        `image ${spec.image} declares VOLUME ${JSON.stringify(declared)}, which bosun cannot mount as a size-capped tmpfs`,
      );
    }
    tmpfs[path] ??= `rw,exec,nosuid,nodev,size=${isolation.tmpBytes},uid=${uid},gid=${gid},mode=0755`;
  }
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
      Tmpfs: tmpfs,
      // Exec output does not go to the container log, but the keep-alive's would: cap it anyway.
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
    },
  };
}
