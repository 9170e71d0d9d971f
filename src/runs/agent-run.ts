/**
 * The data of an agent run: what was asked, where it stands, and what it produced.
 * Snapshots handed out by the run service are immutable; each change makes a new one.
 */
import type { SandboxLimits } from '../sandbox/limits.js';

export type AgentStatus = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT';
export type FailureReason =
  | 'NON_ZERO_EXIT'
  | 'OOM_KILLED'
  | 'QUEUE_TIMEOUT'
  | 'RUN_TIMEOUT'
  | 'SANDBOX_ERROR'
  | 'INTERRUPTED'
  | 'QUEUE_FULL'
  /** An external run had no command or file call for its `idleTimeoutMs`. */
  | 'IDLE_TIMEOUT';
export type LogStream = 'STDOUT' | 'STDERR' | 'SYSTEM';

export const FINAL_STATUSES: ReadonlySet<AgentStatus> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT']);

export function isFinalStatus(status: AgentStatus): boolean {
  return FINAL_STATUSES.has(status);
}

/** The group of failing CI runs an agent works on. */
export interface FailureGroup {
  readonly id: string;
  readonly name: string;
  readonly runIds: readonly string[];
}

export interface EnvVar {
  readonly name: string;
  readonly value: string;
}

/** What a client asks for (`startAgent`'s input), before validation and defaults. */
export interface StartAgentInput {
  readonly group: { readonly id: string; readonly name: string; readonly runIds?: readonly string[] | null };
  readonly config: {
    readonly agent?: string | null;
    readonly image?: string | null;
    readonly steps?: readonly string[] | null;
    readonly env?: readonly EnvVar[] | null;
    readonly cpus?: number | null;
    readonly memory?: string | null;
    readonly pidsLimit?: number | null;
    readonly timeoutMs?: number | null;
    /** `uid[:gid]` to run as; default the sandbox's non-root user (1000). */
    readonly user?: string | null;
    /** External runs: ended after this long without a command or file call. */
    readonly idleTimeoutMs?: number | null;
    /** Absolute paths (files or directories) in /workspace or /tmp kept when the run ends. */
    readonly artifacts?: readonly string[] | null;
  };
  readonly initialRepoContext?: string | null;
}

/** A validated run configuration with every default applied. */
export interface AgentRunConfig {
  readonly agent: string;
  readonly image: string;
  readonly steps: readonly string[];
  readonly env: readonly EnvVar[];
  readonly limits: SandboxLimits;
  readonly timeoutMs: number;
  readonly initialRepoContext: string | null;
  /** `uid[:gid]` the sandbox runs as; null (or absent, in runs stored before it existed) = the default non-root user. */
  readonly user?: string | null;
  /**
   * Runs of an agent that waits for commands (the external agent): how long it may go without a
   * command or file call before it ends TIMED_OUT / IDLE_TIMEOUT. Null (or absent) for the others.
   */
  readonly idleTimeoutMs?: number | null;
  /** Paths copied out of the sandbox when the run ends (absent in runs stored before it existed = none). */
  readonly artifacts?: readonly string[];
}

export interface StepResult {
  /** 1-based: the first step is step 1. */
  readonly index: number;
  readonly command: string;
  readonly exitCode: number | null;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
}

export interface LogLine {
  readonly runId: string;
  /** 1-based, increasing by one per line of this run. */
  readonly seq: number;
  readonly stream: LogStream;
  /** The step's 1-based index, or null for lines outside a step. */
  readonly step: number | null;
  readonly line: string;
  readonly at: Date;
}

export interface AgentRun {
  readonly id: string;
  readonly status: AgentStatus;
  readonly failureReason: FailureReason | null;
  readonly error: string | null;
  readonly group: FailureGroup;
  readonly config: AgentRunConfig;
  readonly containerId: string | null;
  readonly exitCode: number | null;
  readonly steps: readonly StepResult[];
  readonly queuedAt: Date;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
  /** The run this one retries (`retryAgent`), or null. */
  readonly retryOf: string | null;
  /**
   * Whether the run's sandbox came from the warm pool (created ahead of time) rather than being
   * created for it; false until it has a sandbox.
   */
  readonly warmStart: boolean;
  /**
   * The cluster node that took the run (BOSUN_NODE_NAME), set when it starts; null while it waits,
   * and always in embedded mode: one host is the only node, and a host name recorded in the history
   * would go stale when the database moves to another host.
   */
  readonly node: string | null;
}
