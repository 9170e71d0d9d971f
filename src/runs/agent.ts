/**
 * The extension point for agents. An agent is registered by name and, for each run, gets an
 * {@link AgentContext}: a sandbox to run commands in (each recorded as a numbered step with its
 * output in the run's log), a way to write files and log its own lines, the run's limits, and an
 * AbortSignal that fires on cancel, deadline or shutdown. bosun owns everything around it: the
 * queue slot, the container's lifecycle, the deadline, OOM detection and the final status.
 */
import type { InvalidValueError } from '../errors.js';
import type { AgentRunConfig } from './agent-run.js';
import type { SandboxLimits } from '../sandbox/limits.js';

export interface StepOptions {
  readonly env?: Readonly<Record<string, string>>;
  /** Default {@link AgentContext.workspaceDir}. */
  readonly cwd?: string;
}

export interface StepOutcome {
  /** 1-based index of the step in the run ("step 2"). */
  readonly index: number;
  readonly exitCode: number;
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
  /** A line of the agent's own in the run's log (stream SYSTEM). */
  log(message: string): void;
}

/** How the agent's work ended. A non-zero exit code fails the run with NON_ZERO_EXIT (or OOM_KILLED). */
export interface AgentResult {
  readonly exitCode: number;
  /** A sentence for people when the run failed, e.g. "step 2 exited 1". */
  readonly error?: string;
}

export interface Agent {
  /** The name clients pass as `config.agent`. */
  readonly name: string;
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
