/**
 * One sandbox container with a typed lifecycle: create (limits, labels, keep-alive process),
 * exec steps with streamed output, read resource stats, stop (SIGTERM, grace, kill) and remove.
 * Cleanup is guaranteed through {@link DockerSandbox.dispose} / `await using`.
 */
import type Docker from 'dockerode';
import { setTimeout as delay } from 'node:timers/promises';
import type { Duplex } from 'node:stream';
import { pack } from 'tar-stream';
import { ownershipLabels } from './labels.js';
import { toNanoCpus, type SandboxLimits } from './limits.js';
import { LineSplitter } from './line-splitter.js';
import { computeResourceStats, type DockerStatsFrame, type ResourceStats } from './resource-stats.js';
import { SandboxError, isContainerGone, toSandboxError } from './sandbox-errors.js';
import { streamContainerStats } from './stats-stream.js';

/**
 * The container's main process: it ignores SIGTERM (so that stopping a step's processes with
 * `kill -TERM -1` leaves the sandbox up) and does nothing else. Init (docker-init) reaps zombies.
 */
const KEEP_ALIVE_COMMAND = ['sh', '-c', "trap '' TERM INT HUP; exec sleep 2147483647"];
const EXEC_SETTLE_POLL_MS = 25;

export interface SandboxSpec {
  readonly image: string;
  readonly limits: SandboxLimits;
  readonly instanceId: string;
  readonly agentId: string;
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
  ) {
    this.id = container.id;
    this.spec = spec;
    this.name = name;
  }

  /**
   * Creates and starts the container. On any failure, including an abort, nothing is left behind.
   * @throws SandboxError (IMAGE_NOT_FOUND, DOCKER_UNAVAILABLE, DOCKER_ERROR) or the signal's reason.
   */
  static async create(
    docker: Docker,
    spec: SandboxSpec,
    options: { signal?: AbortSignal; onDisposed?: (sandbox: DockerSandbox) => void } = {},
  ): Promise<DockerSandbox> {
    options.signal?.throwIfAborted();
    const name = spec.name ?? `bosun-${spec.agentId}`;
    const env = Object.entries(spec.env ?? {}).map(([key, value]) => `${key}=${value}`);
    let container: Docker.Container;
    try {
      container = await docker.createContainer({
        name,
        Image: spec.image,
        Cmd: KEEP_ALIVE_COMMAND,
        Env: env,
        Labels: ownershipLabels(spec),
        NetworkDisabled: true,
        HostConfig: {
          NanoCpus: toNanoCpus(spec.limits.cpus),
          Memory: spec.limits.memoryBytes,
          MemorySwap: spec.limits.memoryBytes,
          PidsLimit: spec.limits.pidsLimit,
          NetworkMode: 'none',
          Init: true,
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          Privileged: false,
          LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
        },
      });
    } catch (error) {
      throw toSandboxError(error, `create a container from image ${spec.image}`);
    }
    const sandbox = new DockerSandbox(docker, container, spec, name, options.onDisposed ?? (() => {}));
    try {
      options.signal?.throwIfAborted();
      await container.start();
      options.signal?.throwIfAborted();
      return sandbox;
    } catch (error) {
      await sandbox.dispose();
      if (options.signal?.aborted) throw options.signal.reason;
      throw toSandboxError(error, `start container ${name}`);
    }
  }

  /**
   * Runs `sh -c command` and streams its output line by line.
   * The exit code is read from the exec's inspect, not inferred from the end of the stream.
   * @throws SandboxError CONTAINER_GONE when the container died under the command; the signal's reason on abort.
   */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const { signal } = options;
    signal?.throwIfAborted();
    const env = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`);
    let exec: Docker.Exec;
    let stream: Duplex;
    try {
      exec = await this.container.exec({
        Cmd: ['sh', '-c', command],
        Env: env,
        ...(options.cwd === undefined ? {} : { WorkingDir: options.cwd }),
        AttachStdout: true,
        AttachStderr: true,
        AttachStdin: false,
        Tty: false,
      });
      stream = (await exec.start({ hijack: true, stdin: false })) as Duplex;
    } catch (error) {
      throw toSandboxError(error, `run a command in ${this.name}`);
    }
    this.activeExecs.add(exec);
    try {
      await this.pipeOutput(stream, options);
      return { exitCode: await this.settledExitCode(exec, signal) };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw toSandboxError(error, `run a command in ${this.name}`);
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
      const info = await exec.inspect();
      if (!info.Running && info.ExitCode !== null) return info.ExitCode;
      if (!info.Running) {
        throw new SandboxError('CONTAINER_GONE', `the container ${this.name} stopped while a command ran`);
      }
      await delay(EXEC_SETTLE_POLL_MS, undefined, signal ? { signal } : {});
    }
  }

  /**
   * Writes a file into the container (its parent directory is created), owned by the
   * container's user so the agent can read and change it.
   */
  async writeFile(path: string, content: string, mode = 0o644): Promise<void> {
    const slash = path.lastIndexOf('/');
    if (!path.startsWith('/') || slash === path.length - 1) {
      throw new TypeError(`Expected an absolute file path, got ${JSON.stringify(path)}`);
    }
    const dir = path.slice(0, slash) || '/';
    const fileName = path.slice(slash + 1);
    const mkdir = await this.exec(`mkdir -p '${dir.replaceAll("'", "'\\''")}'`);
    if (mkdir.exitCode !== 0) throw new SandboxError('DOCKER_ERROR', `could not create ${dir} in ${this.name}`);
    const info = await this.container.inspect();
    const [uid, gid] = parseUser(info.Config.User);
    const archive = pack();
    archive.entry({ name: fileName, mode, uid, gid }, content);
    archive.finalize();
    try {
      await this.container.putArchive(archive as unknown as NodeJS.ReadableStream, { path: dir });
    } catch (error) {
      throw toSandboxError(error, `write ${path} in ${this.name}`);
    }
  }

  /** Docker's full inspect of the container. */
  inspect(): Promise<Docker.ContainerInspectInfo> {
    return this.container.inspect();
  }

  /** One stats value. Costs 1 to 2 s (the engine samples twice); prefer {@link streamResourceStats}. */
  async getResourceStats(): Promise<ResourceStats> {
    try {
      const frame = (await this.container.stats({ stream: false })) as unknown as DockerStatsFrame;
      return computeResourceStats(frame);
    } catch (error) {
      throw toSandboxError(error, `read the stats of ${this.name}`);
    }
  }

  /** Live stats, one value per engine frame (about 1 s), until the signal aborts or the container is gone. */
  streamResourceStats(signal: AbortSignal): AsyncGenerator<ResourceStats, void, undefined> {
    return streamContainerStats(this.docker, this.id, signal);
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
      oomKills = await this.container.inspect().then(
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
        const info = await exec.inspect().catch(() => undefined);
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
      await this.container.kill({ signal: 'SIGKILL' });
    } catch (error) {
      if (!isContainerGone(error)) throw toSandboxError(error, `kill ${this.name}`);
    }
  }

  /** Removes the container (killing it if it runs). Idempotent; never throws for a container already gone. */
  dispose(): Promise<void> {
    this.disposed ??= (async () => {
      this.killed = true;
      this.activeExecs.clear();
      try {
        await this.container.remove({ force: true, v: true });
      } catch (error) {
        if (!isContainerGone(error)) {
          this.disposed = undefined;
          throw toSandboxError(error, `remove ${this.name}`);
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

function parseUser(user: string | undefined): [number, number] {
  const match = /^(\d+)(?::(\d+))?$/.exec(user ?? '');
  if (!match) return [0, 0];
  const uid = Number(match[1]);
  return [uid, match[2] === undefined ? uid : Number(match[2])];
}
