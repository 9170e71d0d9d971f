/**
 * One sandbox container with a typed lifecycle: create (limits, labels, a locked-down file
 * system and no network, a keep-alive process), exec steps with streamed output, read resource
 * stats, stop (SIGTERM, grace, kill) and remove. Cleanup is guaranteed through
 * {@link DockerSandbox.dispose} / `await using`. Every Docker call has a deadline.
 */
import type Docker from 'dockerode';
import { posix } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Duplex } from 'node:stream';
import { dockerCall } from './docker-call.js';
import { parseImageReference } from './image-reference.js';
import { ownershipLabels } from './labels.js';
import { toNanoCpus, type SandboxLimits } from './limits.js';
import { LineSplitter } from './line-splitter.js';
import { computeResourceStats, type DockerStatsFrame, type ResourceStats } from './resource-stats.js';
import { SandboxError, isContainerGone, toSandboxError } from './sandbox-errors.js';
import { parseSandboxUser } from './sandbox-user.js';
import { streamContainerStats } from './stats-stream.js';

/**
 * The container's main process: it ignores SIGTERM (so that stopping a step's processes with
 * `kill -TERM -1` leaves the sandbox up) and does nothing else. Init (docker-init) reaps zombies.
 */
const KEEP_ALIVE_COMMAND = ['sh', '-c', "trap '' TERM INT HUP; exec sleep 2147483647"];
const EXEC_SETTLE_POLL_MS = 25;
/** The user agents run as unless a run says otherwise: never root by default. */
export const DEFAULT_SANDBOX_USER = '1000:1000';
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;

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
  readonly agentId: string;
  readonly isolation?: SandboxIsolation;
  /** Environment of the container (and so of every exec). */
  readonly env?: Readonly<Record<string, string>>;
  /** Container name; default `bosun-<agentId>`. */
  readonly name?: string;
}

export type OutputStream = 'stdout' | 'stderr';

export interface ExecOptions {
  /** Extra environment for this command only. */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory; default the image's. */
  readonly cwd?: string;
  /** Stops waiting for the command; the processes keep running until {@link DockerSandbox.stop}. */
  readonly signal?: AbortSignal;
  /** Each output line, in order within its stream, without the newline. */
  readonly onOutput?: (stream: OutputStream, line: string) => void;
  /** Written to the command's standard input, which is then closed. */
  readonly stdin?: string;
}

export interface ExecResult {
  readonly exitCode: number;
}

/** Counters of the kernel's interventions at the container's limits. */
export interface LimitEvents {
  readonly oomKills: number;
  readonly pidsLimitHits: number;
}

export interface StopOptions {
  /** How long processes get after SIGTERM before the container is killed. */
  readonly graceMs: number;
}

export interface CreateOptions {
  readonly signal?: AbortSignal;
  readonly onDisposed?: (sandbox: DockerSandbox) => void;
  /** Deadline of each Docker API call. */
  readonly callTimeoutMs?: number;
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
    '/workspace': `rw,exec,nosuid,nodev,size=${isolation.workspaceBytes},uid=${uid},gid=${gid},mode=0755`,
  };
  for (const declared of imageVolumes) {
    // The engine cleans the path the same way before it matches mounts against declared volumes.
    const path = posix.normalize(declared).replace(/(.)\/+$/, '$1');
    if (!path.startsWith('/') || path === '/' || path.includes('\0')) {
      throw new SandboxError('DOCKER_ERROR', `image ${spec.image} declares VOLUME ${JSON.stringify(declared)}, which bosun cannot mount as a size-capped tmpfs`);
    }
    tmpfs[path] ??= `rw,exec,nosuid,nodev,size=${isolation.tmpBytes},uid=${uid},gid=${gid},mode=0755`;
  }
  const network = isolation.network === null || isolation.network === 'none' ? null : isolation.network;
  return {
    name: spec.name ?? `bosun-${spec.agentId}`,
    Image: spec.image,
    Cmd: KEEP_ALIVE_COMMAND,
    User: isolation.user,
    WorkingDir: '/workspace',
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

/** A live sandbox container owned by bosun. */
export class DockerSandbox implements AsyncDisposable {
  readonly id: string;
  readonly name: string;
  readonly spec: SandboxSpec;
  private readonly activeExecs = new Set<Docker.Exec>();
  private disposed: Promise<void> | undefined;
  private killed = false;

  private constructor(
    private readonly docker: Docker,
    private readonly container: Docker.Container,
    spec: SandboxSpec,
    name: string,
    private readonly onDisposed: (sandbox: DockerSandbox) => void,
    private readonly callTimeoutMs: number,
  ) {
    this.id = container.id;
    this.spec = spec;
    this.name = name;
  }

  /**
   * Creates and starts the container. On any failure, including an abort, nothing is left behind.
   * @throws SandboxError (IMAGE_NOT_FOUND, DOCKER_UNAVAILABLE, DOCKER_ERROR), InvalidValueError for
   *   an image reference the engine would refuse, or the signal's reason.
   */
  static async create(docker: Docker, spec: SandboxSpec, options: CreateOptions = {}): Promise<DockerSandbox> {
    const { signal } = options;
    const timeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    signal?.throwIfAborted();
    // Before the engine sees the name: it answers an unclean one with a redirect.
    parseImageReference(spec.image);
    // One inspect per sandbox, for the volumes the image declares (see containerConfig). Not cached:
    // learning the image id a name points to costs the same inspect.
    const image = await dockerCall(
      `inspect image ${spec.image}`,
      timeoutMs,
      (callSignal) => docker.getImage(spec.image).inspect({ abortSignal: callSignal } as Docker.ImageInspectOptions),
      signal,
    );
    const config = containerConfig(spec, Object.keys(image.Config?.Volumes ?? {}));
    const name = config.name!;
    const container = await dockerCall(
      `create a container from image ${spec.image}`,
      timeoutMs,
      (callSignal) => docker.createContainer({ ...config, abortSignal: callSignal } as Docker.ContainerCreateOptions),
    ).catch(async (error: unknown) => {
      // A create that timed out may still land in the engine: remove it by name if it did.
      if (error instanceof SandboxError && error.code === 'DOCKER_UNAVAILABLE') {
        await dockerCall(`remove ${name}`, timeoutMs, (callSignal) =>
          docker.getContainer(name).remove({ force: true, abortSignal: callSignal }),
        ).catch(() => undefined);
      }
      throw error;
    });
    const sandbox = new DockerSandbox(docker, container, spec, name, options.onDisposed ?? (() => {}), timeoutMs);
    try {
      signal?.throwIfAborted();
      await sandbox.call(`start container ${name}`, (callSignal) => container.start({ abortSignal: callSignal }), signal);
      signal?.throwIfAborted();
      return sandbox;
    } catch (error) {
      await sandbox.dispose().catch(() => undefined);
      if (signal?.aborted) throw signal.reason;
      throw error;
    }
  }

  private call<T>(action: string, fn: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T> {
    return dockerCall(action, this.callTimeoutMs, fn, outer);
  }

  /**
   * Runs `sh -c command` and streams its output line by line.
   * The exit code is read from the exec's inspect, not inferred from the end of the stream.
   * @throws SandboxError CONTAINER_GONE when the container died under the command,
   *   DOCKER_UNAVAILABLE when the engine is lost; the signal's reason on abort.
   */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const { signal } = options;
    signal?.throwIfAborted();
    const env = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`);
    const withStdin = options.stdin !== undefined;
    const action = `run a command in ${this.name}`;
    const exec = await this.call(
      action,
      (callSignal) =>
        this.container.exec({
          Cmd: ['sh', '-c', command],
          Env: env,
          ...(options.cwd === undefined ? {} : { WorkingDir: options.cwd }),
          AttachStdout: true,
          AttachStderr: true,
          AttachStdin: withStdin,
          Tty: false,
          abortSignal: callSignal,
        } as Docker.ExecCreateOptions),
      signal,
    );
    const stream = (await this.call(action, () => exec.start({ hijack: true, stdin: withStdin }), signal)) as Duplex;
    this.activeExecs.add(exec);
    try {
      const output = this.pipeOutput(stream, options);
      if (withStdin) stream.end(options.stdin);
      await output;
      return { exitCode: await this.settledExitCode(exec, signal) };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw toSandboxError(error, action);
    } finally {
      stream.destroy();
      // An aborted exec stays "active" until its process is gone, so that stop() waits for it.
      if (!signal?.aborted) this.activeExecs.delete(exec);
    }
  }

  private pipeOutput(stream: Duplex, options: ExecOptions): Promise<void> {
    const onOutput = options.onOutput ?? (() => {});
    const stdout = new LineSplitter((line) => onOutput('stdout', line));
    const stderr = new LineSplitter((line) => onOutput('stderr', line));
    return new Promise<void>((resolve, reject) => {
      let finished = false;
      const finish = (error?: Error) => {
        if (finished) return;
        finished = true;
        options.signal?.removeEventListener('abort', onAbort);
        stdout.end();
        stderr.end();
        if (error) reject(error);
        else resolve();
      };
      const onAbort = () => finish(options.signal?.reason as Error);
      // The signal may have fired while the exec was being created: no event will come then.
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.docker.modem.demuxStream(
        stream,
        { write: (chunk: Buffer) => stdout.write(chunk) } as unknown as NodeJS.WritableStream,
        { write: (chunk: Buffer) => stderr.write(chunk) } as unknown as NodeJS.WritableStream,
      );
      stream.once('end', () => finish());
      stream.once('close', () => finish());
      stream.once('error', (error) => finish(error));
    });
  }

  /** The stream can end a moment before the engine records the exit code. */
  private async settledExitCode(exec: Docker.Exec, signal?: AbortSignal): Promise<number> {
    for (;;) {
      const info = await this.call(`read the exit code of a command in ${this.name}`, () => exec.inspect(), signal);
      if (!info.Running && info.ExitCode !== null) return info.ExitCode;
      if (!info.Running) {
        throw new SandboxError('CONTAINER_GONE', `the container ${this.name} stopped while a command ran`);
      }
      await delay(EXEC_SETTLE_POLL_MS, undefined, signal ? { signal } : {});
    }
  }

  /**
   * Writes a file into the container through a command's standard input (the root file system
   * is read-only, and Docker's archive upload does not reach tmpfs mounts); its parent
   * directories are created. The file belongs to the sandbox user.
   */
  async writeFile(path: string, content: string): Promise<void> {
    if (!/^\/[^\0]*[^/]$/.test(path)) throw new TypeError(`Expected an absolute file path, got ${JSON.stringify(path)}`);
    const quoted = `'${path.replaceAll("'", "'\\''")}'`;
    let errors = '';
    const { exitCode } = await this.exec(`mkdir -p "$(dirname ${quoted})" && cat > ${quoted}`, {
      stdin: content,
      onOutput: (stream, line) => {
        if (stream === 'stderr' && errors.length < 1000) errors += `${line}\n`;
      },
    });
    if (exitCode !== 0) throw new SandboxError('DOCKER_ERROR', `could not write ${path} in ${this.name}: ${errors.trim() || `exit ${exitCode}`}`);
  }

  /** Docker's full inspect of the container. */
  inspect(): Promise<Docker.ContainerInspectInfo> {
    return this.call(`inspect ${this.name}`, (signal) => this.container.inspect({ abortSignal: signal }));
  }

  /** One stats value. Costs 1 to 2 s (the engine samples twice); prefer {@link streamResourceStats}. */
  async getResourceStats(): Promise<ResourceStats> {
    const frame = await this.call(`read the stats of ${this.name}`, (signal) =>
      this.container.stats({ stream: false, abortSignal: signal } as { stream: false }),
    );
    return computeResourceStats(frame as unknown as DockerStatsFrame);
  }

  /** Live stats, one value per engine frame (about 1 s), until the signal aborts or the container is gone. */
  streamResourceStats(signal: AbortSignal): AsyncGenerator<ResourceStats, void, undefined> {
    return streamContainerStats(this.docker, this.id, signal, this.callTimeoutMs);
  }

  /**
   * What the kernel did to this container at its limits, read from its cgroup counters:
   * processes killed for exceeding the memory limit (`oom_kill`) and forks refused at the pids
   * limit (`pids.events` max). Where the counters cannot be read (the container is gone or out
   * of pids), `oomKills` falls back to Docker's `State.OOMKilled`.
   */
  async limitEvents(): Promise<LimitEvents> {
    let output = '';
    try {
      await this.exec(
        'cat /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/pids/pids.events 2>/dev/null || cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/pids.events 2>/dev/null; exit 0',
        { onOutput: (_stream, line) => (output += `${line}\n`) },
      );
    } catch {
      // Fall through to Docker's own record.
    }
    const oom = /^oom_kill (\d+)$/m.exec(output);
    const pids = /^max (\d+)$/m.exec(output);
    let oomKills = oom ? Number(oom[1]) : 0;
    if (!oom) {
      oomKills = await this.inspect().then(
        (info) => (info.State.OOMKilled ? 1 : 0),
        () => 0,
      );
    }
    return { oomKills, pidsLimitHits: pids ? Number(pids[1]) : 0 };
  }

  /** Sends a signal to every process in the container except its init and keep-alive. */
  async signalProcesses(signalName: 'TERM' | 'KILL' | 'INT'): Promise<void> {
    // `kill -1` from a process inside the container reaches every process it may signal;
    // the keep-alive ignores TERM and INT.
    await this.exec(`kill -s ${signalName} -1 2>/dev/null; exit 0`);
  }

  /**
   * Stops whatever runs in the sandbox: SIGTERM to its processes, then, if commands are still
   * running after `graceMs`, kills the container. Never throws for a container that is already gone.
   */
  async stop(options: StopOptions): Promise<void> {
    if (this.killed) return;
    if (this.activeExecs.size > 0) {
      try {
        await this.signalProcesses('TERM');
        await this.waitForExecs(options.graceMs);
      } catch {
        // The engine refused the signal (out of pids, container dying): go straight to kill.
      }
    }
    await this.kill();
  }

  private async waitForExecs(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (this.activeExecs.size > 0 && Date.now() < deadline) {
      for (const exec of [...this.activeExecs]) {
        const info = await this.call('inspect a command', () => exec.inspect()).catch(() => undefined);
        if (!info?.Running) this.activeExecs.delete(exec);
      }
      if (this.activeExecs.size > 0) await delay(100);
    }
  }

  /** SIGKILL to the container. Never throws for a container that is already gone. */
  async kill(): Promise<void> {
    this.killed = true;
    this.activeExecs.clear();
    try {
      await this.call(`kill ${this.name}`, (signal) => this.container.kill({ signal: 'SIGKILL', abortSignal: signal }));
    } catch (error) {
      if (!isContainerGone(error)) throw error;
    }
  }

  /** Removes the container (killing it if it runs). Idempotent; never throws for a container already gone. */
  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      this.killed = true;
      this.activeExecs.clear();
      try {
        await this.call(`remove ${this.name}`, (signal) => this.container.remove({ force: true, v: true, abortSignal: signal }));
      } catch (error) {
        if (!isContainerGone(error)) {
          this.disposed = undefined;
          throw error;
        }
      }
      this.onDisposed(this);
    })();
    return this.disposed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
