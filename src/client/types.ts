/**
 * The shapes the client sends and receives, written after bosun's `schema.graphql` (the part an
 * external agent uses). Inputs are a little friendlier than the schema where nothing is lost:
 * environment variables may be a plain object, file contents may be bytes.
 */

/** Where a run stands. SUCCEEDED, FAILED, CANCELLED and TIMED_OUT are final. */
export type AgentStatus = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT';

/** The statuses a run does not leave. */
export const FINAL_STATUSES: readonly AgentStatus[] = Object.freeze(['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT']);

/** Whether `status` is final. */
export function isFinalStatus(status: AgentStatus): boolean {
  return FINAL_STATUSES.includes(status);
}

/** Why a run did not succeed. */
export type FailureReason =
  'IDLE_TIMEOUT' | 'INTERRUPTED' | 'NON_ZERO_EXIT' | 'OOM_KILLED' | 'QUEUE_FULL' | 'QUEUE_TIMEOUT' | 'RUN_TIMEOUT' | 'SANDBOX_ERROR';

/** A run as the client reads it (a selection of `AgentRun`). Times are ISO-8601 strings. */
export interface RunInfo {
  readonly id: string;
  readonly agent: string;
  readonly status: AgentStatus;
  /** 1 = next to start; 0 = not waiting. */
  readonly position: number;
  readonly failureReason: FailureReason | null;
  readonly error: string | null;
  readonly exitCode: number | null;
  readonly containerId: string | null;
  readonly queuedAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  /** How long the run may go without a command or file call. */
  readonly idleTimeoutMs: number | null;
  /** Since when no call has been in flight (the run ends at idleSince + idleTimeoutMs); null while one is. */
  readonly idleSince: string | null;
}

/** A file kept from a run's sandbox when the run ended (`config.artifacts`). */
export interface Artifact {
  /** Its full path in the sandbox, e.g. /workspace/out/fix.patch. */
  readonly path: string;
  /** Bytes. */
  readonly size: number;
  /** Lower-case hex SHA-256 of its bytes. */
  readonly sha256: string;
  /** Its download path, relative to the server's root: /runs/{agentId}/artifacts/{path}. */
  readonly url: string;
}

/** One command of a run, as recorded among its steps. */
export interface StepResult {
  /** 1-based. */
  readonly index: number;
  readonly command: string;
  readonly exitCode: number | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

/** What a command run by {@link Sandbox.exec} did. */
export interface ExecResult {
  /** The exit code; after a timeout, what the signal left (143 after SIGTERM, 137 after SIGKILL). */
  readonly exitCode: number | null;
  /** Standard output, whole up to 1 MiB, else its last 1 MiB (`truncated`). */
  readonly stdout: string;
  readonly stderr: string;
  /** True when stdout or stderr was longer than the 1 MiB returned. */
  readonly truncated: boolean;
  /** True when the command's `timeoutMs` ended it (the run goes on). */
  readonly timedOut: boolean;
  readonly durationMs: number;
  /** The command as recorded among the run's steps (its log lines carry its index). */
  readonly step: StepResult;
}

export type FileType = 'FILE' | 'DIRECTORY' | 'SYMLINK' | 'OTHER';

/** One entry of a sandbox's file system. */
export interface SandboxFile {
  /** Absolute and normalised. */
  readonly path: string;
  readonly type: FileType;
  /** Bytes (of a symbolic link: of its target's name). */
  readonly size: number;
  /** Permission bits, e.g. 0o644. */
  readonly mode: number;
}

/** A file read from a sandbox: its first 10 MiB at most. */
export interface FileContent {
  readonly path: string;
  /** The file's whole size in bytes, even when fewer came back. */
  readonly size: number;
  /** The bytes as UTF-8 text; null when they are not UTF-8 (use `bytes`). */
  readonly content: string | null;
  readonly contentBase64: string;
  /** The bytes read (decoded from `contentBase64`). */
  readonly bytes: Uint8Array;
  /** True when the file is longer than the 10 MiB returned. */
  readonly truncated: boolean;
}

/** The group of failing CI runs an agent works on. */
export interface FailureGroupInput {
  readonly id: string;
  readonly name: string;
  readonly runIds?: readonly string[];
}

/** Environment variables: a plain object, or the schema's list of `{ name, value }`. */
export type EnvVars = Readonly<Record<string, string>> | readonly { readonly name: string; readonly value: string }[];

/**
 * The configuration of an external run (`AgentConfigInput` with `agent: "external"`, which the
 * client sets). Every field has a server default.
 */
export interface ExternalConfigInput {
  /** The sandbox image; default SANDBOX_IMAGE. */
  readonly image?: string;
  /** CPUs, e.g. 0.5. */
  readonly cpus?: number;
  /** A size such as "512m" or "2g". */
  readonly memory?: string;
  readonly pidsLimit?: number;
  /** The run's deadline from its start. */
  readonly timeoutMs?: number;
  /** Ended TIMED_OUT / IDLE_TIMEOUT after this long with no command or file call; default EXTERNAL_IDLE_TIMEOUT_MS. */
  readonly idleTimeoutMs?: number;
  /** The uid[:gid] to run as; default the sandbox's non-root user. */
  readonly user?: string;
  /** The run's environment (names starting BOSUN_ are reserved). */
  readonly env?: EnvVars;
  /** Set-up commands, run before the sandbox takes calls; the run fails if one fails. */
  readonly steps?: readonly string[];
  /** Absolute paths (files or directories) kept when the run ends; see {@link Sandbox.artifacts}. */
  readonly artifacts?: readonly string[];
}

/** What {@link BosunClient.sandbox} starts: an external run. */
export interface SandboxInput {
  readonly group: FailureGroupInput;
  readonly config?: ExternalConfigInput;
  readonly initialRepoContext?: string;
}

/** Options every call takes. */
export interface RequestOptions {
  /** Aborts the call: its HTTP request is cancelled and the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** How {@link Sandbox.exec} runs a command; every field has a server default. */
export interface ExecOptions extends RequestOptions {
  /** The working directory, an absolute path; default /workspace. */
  readonly cwd?: string;
  /** Variables added to the run's environment for this command. */
  readonly env?: EnvVars;
  /** Ends the command after this long (SIGTERM, then SIGKILL); default 60000. */
  readonly timeoutMs?: number;
  /** Written to the command's standard input, which is then closed. */
  readonly stdin?: string;
}

/** A file for {@link Sandbox.writeFiles}. */
export interface WriteFileInput {
  /** Absolute and normalised, inside /workspace or /tmp; parents are created. */
  readonly path: string;
  /** Text (written as UTF-8) or bytes. */
  readonly content: string | Uint8Array;
  /** Permission bits; default 0o644. */
  readonly mode?: number;
}
