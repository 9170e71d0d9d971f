/**
 * One sandbox container with a typed lifecycle: create (from the definition in
 * container-config.ts), exec commands (docker-exec.ts), files and archives (docker-files.ts,
 * docker-archive.ts), read resource stats and limit counters, stop its processes and keep it
 * (docker-processes.ts), stop it (SIGTERM, grace, kill), follow its exit, and remove it.
 * Cleanup is guaranteed through {@link DockerSandbox.dispose} / `await using`. Every Docker
 * call has a deadline (but the wait for its exit, which lasts as long as it runs).
 *
 * A sandbox created ahead of time for the warm pool is frozen ({@link DockerSandbox.pause}) until a
 * run takes it over ({@link DockerSandbox.takeOver}; what only a pool sandbox needs is in
 * warm-start.ts). The run's environment is given to each command rather than to the container,
 * cold or warm alike, so that the two cannot differ.
 */
import type Docker from 'dockerode';
import { delay } from '../shared/deadline.js';
import { killOtherProcesses, signalOtherProcesses } from './docker-processes.js';
import { SANDBOX_WORKSPACE_DIR, containerConfig, type SandboxSpec } from './container-config.js';
import { dockerCall } from './docker-call.js';
import { extractSandboxArchive, readSandboxArchive } from './docker-archive.js';
import { execInContainer, type ExecTarget } from './docker-exec.js';
import { listSandboxFiles, readSandboxFile, writeSandboxFiles } from './docker-files.js';
import { parseImageReference } from './image-reference.js';
import { readLimitEvents } from './limit-counters.js';
import { computeResourceStats, type ResourceStats } from './resource-stats.js';
import type {
  ExecOptions,
  ExecResult,
  ExtractArchiveOptions,
  FileToWrite,
  LimitEvents,
  ReadFileOptions,
  ReadFileResult,
  ReopenableBytes,
  Sandbox,
  SandboxExit,
  SandboxFileInfo,
  StopOptions,
} from './sandbox.js';
import { SandboxError, isContainerGone } from './sandbox-errors.js';
import { streamContainerStats } from './stats-stream.js';
import { FirstCommandSlot, takeOverContainer, type TakeOverOptions } from './warm-start.js';

export { DEFAULT_ISOLATION, DEFAULT_SANDBOX_USER, containerConfig, type SandboxIsolation, type SandboxSpec } from './container-config.js';
export type { ExecOptions, ExecResult, LimitEvents, OutputStream, StopOptions } from './sandbox.js';
export type { TakeOverOptions } from './warm-start.js';

export const DEFAULT_CALL_TIMEOUT_MS = 30_000;
/** Pause before {@link DockerSandbox.waitForExit} asks again after the engine's connection broke. */
const EXIT_WAIT_RETRY_MS = 1_000;

export interface CreateOptions {
  readonly signal?: AbortSignal;
  readonly onDisposed?: (sandbox: DockerSandbox) => void;
  /** Deadline of each Docker API call. */
  readonly callTimeoutMs?: number;
  /** Environment of every command, under each command's own (see {@link ExecOptions.env}). */
  readonly commandEnv?: Readonly<Record<string, string>>;
}

/** A live sandbox container owned by bosun. */
export class DockerSandbox implements Sandbox {
  readonly id: string;
  /** The id of the image the container runs (what its image name pointed to at creation). */
  readonly imageId: string;
  /** Commands started and not known to be over (see {@link ExecTarget.activeExecs}). */
  private readonly activeExecs = new Set<Docker.Exec>();
  private execTarget: ExecTarget;
  private disposed: Promise<void> | undefined;
  private killed = false;
  private currentSpec: SandboxSpec;
  private commandEnv: Readonly<Record<string, string>>;
  private takenOver = false;
  /** A pool sandbox's first command, started before it was frozen (see warm-start.ts). */
  private readonly firstCommand = new FirstCommandSlot();

  private constructor(
    private readonly docker: Docker,
    private readonly container: Docker.Container,
    spec: SandboxSpec,
    name: string,
    private readonly onDisposed: (sandbox: DockerSandbox) => void,
    private readonly callTimeoutMs: number,
    commandEnv: Readonly<Record<string, string>>,
    imageId: string,
  ) {
    this.id = container.id;
    this.imageId = imageId;
    this.currentSpec = spec;
    this.commandEnv = commandEnv;
    this.execTarget = { docker, container, name, callTimeoutMs, activeExecs: this.activeExecs };
  }

  /** The container's name (a pool sandbox is renamed after its run when taken over). */
  get name(): string {
    return this.execTarget.name;
  }

  /** What the sandbox was made for: a pool sandbox's run and limits change when it is taken over. */
  get spec(): SandboxSpec {
    return this.currentSpec;
  }

  /** True once a run has taken it over from the warm pool (see {@link takeOver}). */
  get warmStart(): boolean {
    return this.takenOver;
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
    const container = await dockerCall(`create a container from image ${spec.image}`, timeoutMs, (callSignal) =>
      docker.createContainer({ ...config, abortSignal: callSignal }),
    ).catch(async (error: unknown) => {
      // A create that timed out may still land in the engine: remove it by name if it did.
      if (error instanceof SandboxError && error.code === 'DOCKER_UNAVAILABLE') {
        await dockerCall(`remove ${name}`, timeoutMs, (callSignal) =>
          docker.getContainer(name).remove({ force: true, abortSignal: callSignal }),
        ).catch(() => undefined);
      }
      throw error;
    });
    const onDisposed = options.onDisposed ?? (() => {});
    const sandbox = new DockerSandbox(docker, container, spec, name, onDisposed, timeoutMs, options.commandEnv ?? {}, image.Id);
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
   * Runs `sh -c command` and streams its output line by line (see docker-exec.ts).
   * @throws SandboxError CONTAINER_GONE when the container died under the command,
   *   DOCKER_UNAVAILABLE when the engine is lost; the signal's reason on abort.
   */
  exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const env = Object.keys(this.commandEnv).length === 0 ? options.env : { ...this.commandEnv, ...options.env };
    const withEnv = env === undefined ? options : { ...options, env };
    const prepared = this.firstCommand.take(command, withEnv, SANDBOX_WORKSPACE_DIR);
    if (prepared !== undefined) return prepared.run(this.execTarget, command, withEnv);
    return execInContainer(this.execTarget, command, withEnv);
  }

  /**
   * Starts the process of the first command ahead of time (a pool sandbox does, before it is
   * frozen): that command then runs without waiting for the engine to start one.
   */
  prepareFirstCommand(signal?: AbortSignal): Promise<void> {
    return this.firstCommand.prepare(this.execTarget, signal);
  }

  /** Freezes every process in the container (the engine's pause, the cgroup freezer): it uses no CPU until thawed. */
  async pause(signal?: AbortSignal): Promise<void> {
    await this.call(`pause ${this.name}`, (callSignal) => this.container.pause({ abortSignal: callSignal }), signal);
  }

  /**
   * Hands a frozen sandbox created ahead of time over to a run: thawed, with the run's limits and
   * container name (the engine calls of {@link takeOverContainer}, which go out together) and its
   * commands' environment; no command runs before all are done. Afterwards the sandbox is what
   * {@link create} would have made for the run (inspect and the cgroup files agree) but for its
   * labels (see labels.ts).
   * On failure the sandbox is left as it is, for the caller to remove.
   * @throws SandboxError (CONTAINER_GONE, DOCKER_UNAVAILABLE, DOCKER_ERROR) or the signal's reason.
   */
  async takeOver(run: TakeOverOptions): Promise<void> {
    const { signal, limits } = run;
    await takeOverContainer(this.execTarget, this.currentSpec.limits, run);
    signal?.throwIfAborted();
    this.currentSpec = { ...this.currentSpec, runId: run.runId, name: run.name, limits, pool: false };
    this.execTarget = { ...this.execTarget, name: run.name };
    this.commandEnv = run.env;
    this.takenOver = true;
  }

  /**
   * Writes a file into the container through a command's standard input (the root file system
   * is read-only, and Docker's archive upload does not reach tmpfs mounts); its parent
   * directories are created. The file belongs to the sandbox user.
   */
  async writeFile(path: string, content: string | Uint8Array): Promise<void> {
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

  // Files and archives (docker-files.ts, docker-archive.ts): see the Sandbox interface.

  writeFiles(files: readonly FileToWrite[], signal?: AbortSignal): Promise<SandboxFileInfo[]> {
    return writeSandboxFiles(this.execTarget, files, signal);
  }

  readFile(path: string, options: ReadFileOptions): Promise<ReadFileResult> {
    return readSandboxFile(this.execTarget, path, options);
  }

  listFiles(path: string, signal?: AbortSignal): Promise<SandboxFileInfo[]> {
    return listSandboxFiles(this.execTarget, path, signal);
  }

  extractArchive(path: string, archive: ReopenableBytes, options: ExtractArchiveOptions): Promise<SandboxFileInfo[]> {
    return extractSandboxArchive(this.execTarget, path, archive, options);
  }

  readArchive(path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    return readSandboxArchive(this.execTarget, path, signal);
  }

  /** Docker's full inspect of the container. */
  inspect(): Promise<Docker.ContainerInspectInfo> {
    return this.call(`inspect ${this.name}`, (signal) => this.container.inspect({ abortSignal: signal }));
  }

  /** One stats value. Costs 1 to 2 s (the engine samples twice); prefer {@link streamResourceStats}. */
  async getResourceStats(): Promise<ResourceStats> {
    const frame = await this.call(`read the stats of ${this.name}`, (signal) => {
      // dockerode's stats() types omit abortSignal (docker-modem honours it): a variable is not checked for excess properties.
      const options = { stream: false as const, abortSignal: signal };
      return this.container.stats(options);
    });
    return computeResourceStats(frame);
  }

  /** Live stats, one value per engine frame (about 1 s), until the signal aborts or the container is gone. */
  streamResourceStats(signal: AbortSignal): AsyncGenerator<ResourceStats, void, undefined> {
    return streamContainerStats(this.docker, this.id, signal, this.callTimeoutMs);
  }

  /**
   * What the kernel did to this container at its limits, read from its cgroup counters
   * (limit-counters.ts): processes killed for exceeding the memory limit and forks refused at the
   * pids limit. Where the counters cannot be read (the container is gone or out of pids),
   * `oomKills` falls back to Docker's `State.OOMKilled`.
   */
  limitEvents(): Promise<LimitEvents> {
    return readLimitEvents(this);
  }

  /** Sends a signal to every process in the container except its init and keep-alive. */
  async signalProcesses(signalName: 'TERM' | 'KILL' | 'INT'): Promise<void> {
    // `kill -1` from a process inside the container reaches every process it may signal;
    // the keep-alive ignores TERM and INT.
    await this.exec(`kill -s ${signalName} -1 2>/dev/null; exit 0`);
  }

  /**
   * Stops the container's processes and keeps the container (see {@link Sandbox.stopProcesses}):
   * SIGTERM to every process but init and the keep-alive, up to `graceMs` for the commands
   * started here to end, then SIGKILL rounds until nothing but those two is left
   * (docker-processes.ts). Never throws for a container that is already gone.
   * @throws SandboxError DOCKER_UNAVAILABLE when the engine is lost; DOCKER_ERROR when the
   *   processes could not be signalled (no pid left for the command) or outlived every round of SIGKILL.
   */
  async stopProcesses(options: StopOptions): Promise<void> {
    if (this.killed) return;
    try {
      await signalOtherProcesses(this.execTarget, 'TERM');
      await this.waitForExecs(options.graceMs);
      const left = await killOtherProcesses(this.execTarget);
      if (left > 0) throw new SandboxError('DOCKER_ERROR', `${left} process(es) of ${this.name} outlived every round of SIGKILL`);
    } catch (error) {
      if (isContainerGone(error)) return;
      throw error;
    }
  }

  /**
   * Stops whatever runs in the sandbox: when commands are running, SIGTERM to its processes and
   * up to `graceMs` for them to end; then, always, SIGKILL to the container, so that nothing runs
   * in it afterwards (the container stays until {@link dispose}). Never throws for a container
   * that is already gone.
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

  /**
   * Resolves once the container stops running, whoever stopped it (see {@link Sandbox.waitForExit}):
   * the engine's wait API, one long request that answers when the container exits. A broken
   * connection (the engine restarting) is not an exit: it asks again after a pause.
   */
  async waitForExit(signal: AbortSignal): Promise<SandboxExit> {
    for (;;) {
      signal.throwIfAborted();
      try {
        // dockerode's types omit abortSignal on wait (docker-modem honours it): a variable is not checked for excess properties.
        const options = { condition: 'not-running' as const, abortSignal: signal };
        const answer = (await this.container.wait(options)) as { StatusCode?: number; Error?: { Message?: string } | null };
        const exitCode = typeof answer.StatusCode === 'number' ? answer.StatusCode : null;
        const detail = answer.Error?.Message ? ` (${answer.Error.Message})` : '';
        return { exitCode, description: `the container ${this.name} exited${exitCode === null ? '' : ` with code ${exitCode}`}${detail}` };
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (isContainerGone(error)) return { exitCode: null, description: `the container ${this.name} is gone` };
        await delay(EXIT_WAIT_RETRY_MS, [signal]);
      }
    }
  }

  /** SIGKILL to the container. Never throws for a container that is already gone. */
  async kill(): Promise<void> {
    this.killed = true;
    this.activeExecs.clear();
    this.firstCommand.discard();
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
      this.firstCommand.discard();
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
