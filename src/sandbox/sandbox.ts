/**
 * What a run needs from a sandbox, whatever backs it: a live {@link Sandbox} to run commands and
 * write files in, and a {@link SandboxProvider} that hands one out. The run executor depends on
 * these interfaces only; Docker implements them (`DockerSandbox`, `SandboxManager`), and tests
 * drive the run rules with a fake in milliseconds.
 *
 * Two features plug in here rather than into the executor:
 * - the warm pool (warm-pool.ts) is a provider that hands over a sandbox created ahead of time
 *   (falling back to creating one), which is why {@link CreateSandboxOptions.env} is promised to
 *   every command rather than to the container, and why a sandbox says {@link Sandbox.warmStart};
 * - external agents drive a live sandbox command by command from the API: {@link ExecOptions}
 *   carries stdin, cwd, env, a signal and a timeout, and the file and archive methods
 *   ({@link Sandbox.writeFiles}, {@link Sandbox.readFile}, {@link Sandbox.listFiles},
 *   {@link Sandbox.extractArchive}, {@link Sandbox.readArchive}) sit beside
 *   {@link Sandbox.writeFile}.
 */
import type { SandboxLimits } from './limits.js';

export type OutputStream = 'stdout' | 'stderr';

export interface ExecOptions {
  /** Extra environment for this command only. */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory; default the image's. */
  readonly cwd?: string;
  /**
   * Stops waiting for the command; its processes keep running until {@link Sandbox.stopProcesses}
   * or {@link Sandbox.stop}.
   */
  readonly signal?: AbortSignal;
  /**
   * Ends the command early, the way {@link timeoutMs} does (SIGTERM to its process group, SIGKILL
   * after {@link timeoutGraceMs}), once it aborts; the result then says `interrupted`. Unlike
   * {@link signal}, the call still settles with the exit code the signal left (143, 137), and
   * the command's processes are gone by then.
   */
  readonly interrupt?: AbortSignal;
  /** Each output line, in order within its stream, without the newline. */
  readonly onOutput?: (stream: OutputStream, line: string) => void;
  /**
   * Each chunk of output as it arrives, before it is split into lines: for callers that hand the
   * output back whole (an API `exec`), which lines cannot rebuild (a cut long line, `\r\n`, a
   * last line without a newline).
   */
  readonly onData?: (stream: OutputStream, chunk: Uint8Array) => void;
  /**
   * For a caller that, from some point on, keeps only the last lines of the output (a run's log
   * past its budget): while `keepLast` gives a count, the lines of a chunk before its last
   * `count` are not handed to `onOutput` but counted, in order, to `skipped` (see `LineSkip`
   * in line-splitter.ts). A sandbox may ignore it and hand over every line.
   */
  readonly skipLines?: {
    keepLast(stream: OutputStream): number | undefined;
    skipped(stream: OutputStream, lines: number, bytes: number): void;
  };
  /** Written to the command's standard input, which is then closed. */
  readonly stdin?: string | Uint8Array;
  /**
   * Ends this command once it has run this long: SIGTERM to its processes (the process group it
   * leads), SIGKILL after {@link timeoutGraceMs}; the result then says `timedOut`. The sandbox and
   * its other commands go on.
   */
  readonly timeoutMs?: number;
  /** Between the timeout's SIGTERM and its SIGKILL; default 5000 (pass the run's stop grace). */
  readonly timeoutGraceMs?: number;
}

export interface ExecResult {
  /** The command's exit code (for a command ended by its timeout, what the signal left: 143, 137). */
  readonly exitCode: number;
  /** True when {@link ExecOptions.timeoutMs} ended the command. */
  readonly timedOut?: boolean;
  /** True when {@link ExecOptions.interrupt} ended the command (and its timeout had not). */
  readonly interrupted?: boolean;
}

/** What a path in a sandbox is. */
export type SandboxFileType = 'FILE' | 'DIRECTORY' | 'SYMLINK' | 'OTHER';

/** One entry of a sandbox's file system. */
export interface SandboxFileInfo {
  /** Absolute, normalised. */
  readonly path: string;
  readonly type: SandboxFileType;
  readonly sizeBytes: number;
  /** Permission bits (e.g. 0o644), with setuid, setgid and sticky. */
  readonly mode: number;
}

/** A file for {@link Sandbox.writeFiles}. */
export interface FileToWrite {
  /** Absolute and normalised; the caller has checked it. */
  readonly path: string;
  readonly content: Uint8Array;
  /** Permission bits (0 to 0o7777); default 0o644. */
  readonly mode?: number;
}

export interface ReadFileOptions {
  /** Bytes returned at most; the rest is cut and `truncated` says so. */
  readonly maxBytes: number;
  readonly signal?: AbortSignal;
}

export interface ReadFileResult {
  readonly path: string;
  /** The file's whole size, even when fewer bytes came back. */
  readonly sizeBytes: number;
  readonly content: Uint8Array;
  readonly truncated: boolean;
}

/** Something that can be read more than once, as a web `Blob` (a multipart upload's `File` is one). */
export interface ReopenableBytes {
  readonly size: number;
  stream(): ReadableStream<Uint8Array>;
}

export interface ExtractArchiveOptions {
  /**
   * Refuses an archive whose tar stream (headers included) is longer than this once
   * decompressed; reading stops as soon as it is passed, so a gzip bomb is never inflated.
   */
  readonly maxBytes: number;
  readonly signal?: AbortSignal;
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

/** How a sandbox stopped of itself (see {@link Sandbox.waitForExit}). */
export interface SandboxExit {
  /** The sandbox's main process's exit code, when the engine knows it. */
  readonly exitCode: number | null;
  /** A sentence for people: "the container bosun-… exited with code 137". */
  readonly description: string;
}

/**
 * A live sandbox that serves one run. Every method may throw a `SandboxError` (see
 * sandbox-errors.ts): CONTAINER_GONE when the sandbox died under a call, DOCKER_UNAVAILABLE when
 * its engine is lost; the file and archive methods also FILE_ERROR when the sandbox refuses the
 * operation (no space left, a directory in the way, permission denied). Their signal, unlike
 * {@link ExecOptions.signal}, ends the work in the sandbox too, and they reject with its reason.
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
  /**
   * Writes files in one go (parents created, owned by the sandbox's user, replacing what was
   * there, a symlink included) and describes each as written, in order.
   */
  writeFiles(files: readonly FileToWrite[], signal?: AbortSignal): Promise<SandboxFileInfo[]>;
  /**
   * Reads up to `maxBytes` of a regular file (a symlink to one is followed).
   * @throws SandboxError FILE_NOT_FOUND when it does not exist, is a directory or not a regular
   *   file, or cannot be read by the sandbox's user (the message says which).
   */
  readFile(path: string, options: ReadFileOptions): Promise<ReadFileResult>;
  /**
   * The entries directly under a directory (a symlink to one is followed), sorted by path, or
   * the one entry of anything else; links are described, not followed.
   * @throws SandboxError FILE_NOT_FOUND.
   */
  listFiles(path: string, signal?: AbortSignal): Promise<SandboxFileInfo[]>;
  /**
   * Extracts a tar or gzip'd tar into a directory (created when missing) and returns its
   * top-level entries as they are after the extraction. The archive is checked whole first (see
   * archive.ts): an absolute entry, a `..` that leads out, a link whose target resolves outside
   * `path`, a device or FIFO, a malformed tar or bytes past `maxBytes` refuse it with a
   * SandboxError ARCHIVE_REFUSED, and nothing is extracted. `archive` is read twice, and must
   * give the same bytes both times.
   */
  extractArchive(path: string, archive: ReopenableBytes, options: ExtractArchiveOptions): Promise<SandboxFileInfo[]>;
  /**
   * A tar stream of a path (a file or a directory, named by its base name in the archive), read
   * from the sandbox as it is consumed. Cancelling it kills the command that produces it; a
   * command that fails midway errors it.
   * @throws SandboxError FILE_NOT_FOUND when the path does not exist.
   */
  readArchive(path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>>;
  /** What the kernel did at the sandbox's limits so far (OOM kills, refused forks). */
  limitEvents(): Promise<LimitEvents>;
  /**
   * Stops the sandbox's processes but keeps the sandbox, and so its files (`/workspace` and `/tmp`
   * are tmpfs, gone with the container): SIGTERM to every process but the sandbox's own (its init
   * and keep-alive), up to `graceMs` for the commands started through {@link exec} to end, then
   * SIGKILL to whatever is left, still but the sandbox's own. Commands running meanwhile settle
   * with the exit code the signals left. The sandbox takes commands and file calls afterwards (to
   * copy artifacts out before {@link dispose}). Never throws for a sandbox already gone.
   * @throws SandboxError when the processes could not be signalled (e.g. the pids limit leaves no
   *   room for the command that signals them): {@link stop} is then the way to end them.
   */
  stopProcesses(options: StopOptions): Promise<void>;
  /**
   * Stops whatever runs in the sandbox: SIGTERM, up to `graceMs` for the processes to end, then
   * a kill of the whole sandbox. The sandbox runs no command afterwards, and its tmpfs files are
   * gone. Never throws for a sandbox already gone.
   */
  stop(options: StopOptions): Promise<void>;
  /**
   * Resolves once the sandbox stops running (its container exited, was killed from outside or
   * removed), whoever stopped it: what tells a run that waits for calls that its sandbox died
   * while nothing was in flight. Rejects with the signal's reason when it aborts first; a lost
   * engine does not settle it (it waits for the engine to answer again).
   */
  waitForExit(signal: AbortSignal): Promise<SandboxExit>;
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
