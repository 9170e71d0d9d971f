/**
 * The extension point for agents. An agent is registered by name and, for each run, gets an
 * {@link AgentContext}: a sandbox to run commands in (each recorded as a numbered step with its
 * output in the run's log), a way to write files and log its own lines, the run's limits, and an
 * AbortSignal that fires on cancel, deadline or shutdown. bosun owns everything around it: the
 * queue slot, the container's lifecycle, the deadline, OOM detection and the final status.
 */
import type { InvalidValueError } from '../errors.js';
import type { AgentRunConfig, StepResult } from './agent-run.js';
import type { SandboxLimits } from '../sandbox/limits.js';
import type { ExtractArchiveOptions, FileToWrite, ReadFileOptions, ReadFileResult, ReopenableBytes, SandboxFileInfo } from '../sandbox/sandbox.js';

export interface StepOptions {
  readonly env?: Readonly<Record<string, string>>;
  /** Default {@link AgentContext.workspaceDir}. */
  readonly cwd?: string;
  /** Written to the command's standard input, which is then closed. */
  readonly stdin?: string;
  /**
   * Ends the command once it has run this long (SIGTERM to its processes, then SIGKILL); the
   * outcome says `timedOut` and the run goes on. Default: only the run's deadline.
   */
  readonly timeoutMs?: number;
  /**
   * Hands the command's output back in the outcome: each stream whole up to this many bytes,
   * else its last this-many bytes (see `OutputTail`). The log gets it line by line either way.
   */
  readonly captureBytes?: number;
  /** Stops waiting for this step only (the run's own signal stops every step). */
  readonly signal?: AbortSignal;
  /**
   * Ends the command early, as its timeout would (SIGTERM to its processes, then SIGKILL after
   * the run's stop grace), once it aborts: the step is recorded as ended with the exit code the
   * signal left, its log says why (the abort reason's message), and the outcome says
   * `interrupted`. For a caller that went away: its command must not outlive it.
   */
  readonly interrupt?: AbortSignal;
}

/** A command's output as {@link StepOptions.captureBytes} keeps it. */
export interface CapturedOutput {
  readonly stdout: string;
  readonly stderr: string;
  /** True when either stream was longer than the bytes kept. */
  readonly truncated: boolean;
}

export interface StepOutcome {
  /** 1-based index of the step in the run ("step 2"). */
  readonly index: number;
  readonly exitCode: number;
  /** True when {@link StepOptions.timeoutMs} ended the command. */
  readonly timedOut: boolean;
  /** True when {@link StepOptions.interrupt} ended the command. */
  readonly interrupted: boolean;
  /** How long the command ran. */
  readonly durationMs: number;
  /** The step as recorded in the run. */
  readonly step: StepResult;
  /** With {@link StepOptions.captureBytes}. */
  readonly output?: CapturedOutput;
}

export interface AgentContext {
  readonly runId: string;
  readonly config: AgentRunConfig;
  readonly limits: SandboxLimits;
  /** Aborts on cancel, deadline or shutdown; pass it on to anything long. */
  readonly signal: AbortSignal;
  /** The agent's working directory inside the sandbox. */
  readonly workspaceDir: string;
  /** Where `initialRepoContext` was written inside the sandbox, or null when there was none. */
  readonly contextFilePath: string | null;
  /**
   * Runs `sh -c command` in the sandbox as the run's next step. Its stdout and stderr go to the
   * run's log line by line; the step's exit code is recorded. Rejects when the signal aborts.
   */
  step(command: string, options?: StepOptions): Promise<StepOutcome>;
  /** Writes a file into the sandbox. */
  writeFile(path: string, content: string): Promise<void>;
  /**
   * Writes files into the sandbox (see `Sandbox.writeFiles`), noted in the run's log. The
   * operations below reject when the run's signal or their own aborts.
   */
  writeFiles(files: readonly FileToWrite[], signal?: AbortSignal): Promise<SandboxFileInfo[]>;
  /** Reads a file of the sandbox (see `Sandbox.readFile`). */
  readFile(path: string, options: ReadFileOptions): Promise<ReadFileResult>;
  /** Lists a directory of the sandbox (see `Sandbox.listFiles`). */
  listFiles(path: string, signal?: AbortSignal): Promise<SandboxFileInfo[]>;
  /** Extracts a tar (or tar.gz) into the sandbox (see `Sandbox.extractArchive`), noted in the run's log. */
  extractArchive(path: string, archive: ReopenableBytes, options: ExtractArchiveOptions): Promise<SandboxFileInfo[]>;
  /** A tar stream of a path of the sandbox (see `Sandbox.readArchive`). */
  readArchive(path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>>;
  /** A line of the agent's own in the run's log (stream SYSTEM). */
  log(message: string): void;
  /**
   * Tells the run's subscribers that what the agent reports about itself changed (an external
   * run went idle or busy): the run's snapshot is announced again, nothing is stored.
   */
  announce(): void;
}

/**
 * How the agent's work ended. A non-zero exit code fails the run with NON_ZERO_EXIT (or
 * OOM_KILLED); `timedOut` ends it TIMED_OUT with that reason (an external run left idle).
 */
export type AgentResult =
  | {
      readonly exitCode: number;
      /** A sentence for people when the run failed, e.g. "step 2 exited 1". */
      readonly error?: string;
    }
  | {
      readonly timedOut: 'IDLE_TIMEOUT';
      /** A sentence for people, e.g. "no command or file call for 300000 ms". */
      readonly error: string;
    };

export interface Agent {
  /** The name clients pass as `config.agent`. */
  readonly name: string;
  /**
   * True for an agent that, after its set-up, waits for commands from the API (the external
   * agent): its runs get an idle timeout (`config.idleTimeoutMs`), which other runs refuse.
   */
  readonly waitsForCommands?: boolean;
  /**
   * Checks a run's configuration before it is queued. Returning a problem refuses the run with
   * BAD_USER_INPUT naming the field; undefined accepts it.
   */
  validate?(config: AgentRunConfig): AgentConfigProblem | undefined;
  run(context: AgentContext): Promise<AgentResult>;
}

/** A field of the run's config that the agent refuses, and why. */
export interface AgentConfigProblem {
  /** The field under `input.config`, e.g. `steps` or `steps[2]`. */
  readonly field: string;
  readonly error: InvalidValueError;
}
