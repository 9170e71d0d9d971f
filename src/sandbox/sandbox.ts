/**
 * What a run needs from a sandbox, whatever backs it: a live {@link Sandbox} to run commands and
 * write files in, and a {@link SandboxProvider} that hands one out. The run executor depends on
 * these interfaces only; Docker implements them (`DockerSandbox`, `SandboxManager`), and tests
 * drive the run rules with a fake in milliseconds.
 *
 * Two planned features plug in here rather than into the executor:
 * - the warm pool (warm-pool.ts) is a provider that hands over a sandbox created ahead of time
 *   (falling back to creating one), which is why {@link CreateSandboxOptions.env} is promised to
 *   every command rather than to the container, and why a sandbox says {@link Sandbox.warmStart};
 * - external agents drive a live sandbox command by command from the API: {@link ExecOptions}
 *   already carries stdin, cwd, env and a signal, and file or archive operations join
 *   {@link Sandbox} as methods beside {@link Sandbox.writeFile}.
 */
import type { SandboxLimits } from './limits.js';

export type OutputStream = 'stdout' | 'stderr';

export interface ExecOptions {
  /** Extra environment for this command only. */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory; default the image's. */
  readonly cwd?: string;
  /** Stops waiting for the command; its processes keep running until {@link Sandbox.stop}. */
  readonly signal?: AbortSignal;
  /** Each output line, in order within its stream, without the newline. */
  readonly onOutput?: (stream: OutputStream, line: string) => void;
  /** Written to the command's standard input, which is then closed. */
  readonly stdin?: string | Uint8Array;
}

export interface ExecResult {
  readonly exitCode: number;
}

/** Counters of the kernel's interventions at the sandbox's limits. */
export interface LimitEvents {
  /** Processes killed for exceeding the memory limit. */
  readonly oomKills: number;
  /** Forks refused at the pids limit. */
  readonly pidsLimitHits: number;
}

export interface StopOptions {
  /** How long processes get after SIGTERM before they are killed. */
  readonly graceMs: number;
}

/**
 * A live sandbox that serves one run. Every method may throw a `SandboxError` (see
 * sandbox-errors.ts): CONTAINER_GONE when the sandbox died under a call, DOCKER_UNAVAILABLE when
 * its engine is lost.
 */
export interface Sandbox extends AsyncDisposable {
  /** The engine's id of the sandbox (for Docker, the container id): what runs record and the monitor watches. */
  readonly id: string;
  /**
   * True when the sandbox was created ahead of time (a warm pool's) and handed over to its run,
   * rather than created for it; absent counts as false.
   */
  readonly warmStart?: boolean;
  /**
   * Runs `sh -c command` and streams its output line by line; resolves with its exit code.
   * Rejects with the signal's reason when it aborts (the processes are left to {@link stop}).
   */
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** Writes a file, creating its parent directories; it belongs to the sandbox's user. */
  writeFile(path: string, content: string | Uint8Array): Promise<void>;
  /** What the kernel did at the sandbox's limits so far (OOM kills, refused forks). */
  limitEvents(): Promise<LimitEvents>;
  /**
   * Stops whatever runs in the sandbox: SIGTERM, up to `graceMs` for the processes to end, then
   * a kill. The sandbox runs no command afterwards. Never throws for a sandbox already gone.
   */
  stop(options: StopOptions): Promise<void>;
  /** Removes the sandbox (killing what still runs). Idempotent; never throws for a sandbox already gone. */
  dispose(): Promise<void>;
}

/** The engine's version and the size of its host. */
export interface EngineInfo {
  readonly version: string;
  /** CPUs the engine's host has. */
  readonly cpus: number;
  /** Memory of the engine's host in bytes. */
  readonly memoryBytes: number;
}

export interface CreateSandboxOptions {
  /** The run the sandbox serves (named and labelled after it). */
  readonly runId: string;
  readonly image: string;
  readonly limits: SandboxLimits;
  /**
   * Environment of every command run in the sandbox. A provider may set it on the container or
   * on each command (a sandbox created ahead of time cannot know it at creation).
   */
  readonly env?: Readonly<Record<string, string>>;
  /** `uid[:gid]` for this sandbox instead of the provider's default user. */
  readonly user?: string;
  /** Aborts the creation; nothing is left behind then. */
  readonly signal?: AbortSignal;
}

/**
 * Hands out sandboxes and answers the engine-level questions asked before a run is admitted.
 * Each method may throw a `SandboxError` DOCKER_UNAVAILABLE when the engine does not answer.
 */
export interface SandboxProvider<S extends Sandbox = Sandbox> {
  /**
   * A started sandbox with the options' image, limits, env and user, tracked until disposed.
   * @throws SandboxError (IMAGE_NOT_FOUND, DOCKER_UNAVAILABLE, DOCKER_ERROR) or the signal's reason.
   */
  create(options: CreateSandboxOptions): Promise<S>;
  /** True when the engine has the image. */
  imageExists(image: string): Promise<boolean>;
  engineInfo(signal?: AbortSignal): Promise<EngineInfo>;
  /**
   * Gives up on a sandbox that could not be removed (its engine was away): it is no longer
   * tracked, so that the provider's reaping removes it once the engine answers.
   */
  forget(sandbox: S): void;
}
