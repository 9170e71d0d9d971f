/**
 * Execution of one run once the queue has given it a slot: a sandbox with the run's limits and
 * environment, its agent run inside it under the run's deadline (with the context of
 * agent-context.ts: steps whose output is kept within the log budget), its outcome classified, and the sandbox removed (with retries) before the run takes
 * its final status — on every path: success, a non-zero exit, OOM, the deadline, cancel,
 * shutdown or a sandbox fault.
 *
 * It depends only on the {@link SandboxProvider} / {@link Sandbox} interfaces, so its rules are
 * tested with a fake sandbox, and a warm pool or another engine plugs in as a provider.
 */
import type { AgentRegistry } from './agent-registry.js';
import type { ArtifactRequest } from './artifact-collector.js';
import type { AgentResult } from './agent.js';
import { CONTEXT_FILE_PATH, WORKSPACE_DIR, createAgentContext, type Execution, type OutputLine } from './agent-context.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { describeLimits, formatMemory } from '../sandbox/limits.js';
import type { Sandbox, SandboxProvider } from '../sandbox/sandbox.js';
import { SandboxError } from '../sandbox/sandbox-errors.js';
import { delay } from '../shared/deadline.js';
import type { AgentRun, AgentStatus, FailureReason } from './agent-run.js';
import { OutputBudget } from './output-budget.js';
import type { RunRecorder } from './run-recorder.js';

export { CONTEXT_FILE_PATH, WORKSPACE_DIR } from './agent-context.js';
const DEFAULT_LOG_BYTES_PER_RUN = 32 * 1024 * 1024;
const DISPOSE_ATTEMPTS = 3;
const DEFAULT_DISPOSE_RETRY_DELAY_MS = 250;

/** Why a running run was stopped from outside its agent. */
export type StopCause = 'cancel' | 'deadline' | 'shutdown';

/** The abort reason that tells the executor why a run is stopped. */
export class RunStopped extends Error {
  readonly stopCause: StopCause;

  constructor(cause: StopCause) {
    super(`run stopped: ${cause}`);
    this.stopCause = cause;
  }
}

export interface RunExecutorOptions {
  readonly sandboxes: Pick<SandboxProvider, 'create' | 'forget'>;
  readonly agents: Pick<AgentRegistry, 'get'>;
  readonly recorder: RunRecorder;
  /** How long a stopped run's processes get after SIGTERM before they are killed. */
  readonly stopGraceMs: number;
  /** This cluster node's name, recorded on each run it starts (`AgentRun.node`); null or absent embedded. */
  readonly nodeName?: string | null;
  /**
   * Output bytes of a run that are recorded, each line counting at least 64 bytes (see
   * {@link OutputBudget}); default 32 MiB.
   */
  readonly logBytesPerRun?: number;
  /**
   * Called when a run finds the engine gone, before its slot is released, so that the queue can
   * be held rather than start waiting runs into the same fault.
   */
  readonly onEngineLost?: (error: SandboxError) => void;
  readonly logger: Pick<Logger, 'warn' | 'error'>;
  /** Pause before the n-th retry of removing a sandbox is n times this; default 250 ms. */
  readonly disposeRetryDelayMs?: number;
  /**
   * Copies a run's `config.artifacts` out of its sandbox (an `ArtifactCollector`) when the run
   * ends, on every path where the sandbox exists; bounded in time by itself, never rejects.
   */
  readonly collectArtifacts?: (request: ArtifactRequest) => Promise<void>;
}

interface Outcome {
  readonly status: AgentStatus;
  readonly reason: FailureReason | null;
  readonly error: string | null;
  readonly exitCode: number | null;
}

export class RunExecutor {
  private readonly recorder: RunRecorder;

  constructor(private readonly options: RunExecutorOptions) {
    this.recorder = options.recorder;
  }

  /**
   * Runs a queued run to its final status, and settles only once its sandbox is gone. Never
   * rejects for the run's own faults: they become its outcome.
   * @param signal aborts the run; abort it with a {@link RunStopped} to say why (any other
   *   reason counts as a shutdown).
   */
  async execute(id: string, signal: AbortSignal): Promise<void> {
    const run = this.recorder.require(id);
    const { config } = run;
    const agent = this.options.agents.get(config.agent);
    if (!agent) {
      // Checked before any sandbox exists: nothing is created for a run that cannot run. In a cluster,
      // the node is named: another node may have the agent (every node should register the same).
      const node = this.options.nodeName;
      const error =
        node == null
          ? `agent ${JSON.stringify(config.agent)} is not registered`
          : `agent ${JSON.stringify(config.agent)} is not registered on node ${node}, which took the run (every node of a cluster should register the same agents)`;
      this.recorder.log(id, 'SYSTEM', null, `${error}; the run cannot start`);
      this.recorder.finish(id, 'FAILED', null, error);
      return;
    }
    this.recorder.patch(id, { status: 'RUNNING', startedAt: new Date(), node: this.options.nodeName ?? null });
    const controller = new AbortController();
    const stopFromOutside = () => controller.abort(signal.reason instanceof RunStopped ? signal.reason : new RunStopped('shutdown'));
    if (signal.aborted) stopFromOutside();
    else signal.addEventListener('abort', stopFromOutside, { once: true });
    const deadline = setTimeout(() => controller.abort(new RunStopped('deadline')), config.timeoutMs);
    deadline.unref();
    const execution: Execution = {
      id,
      signal: controller.signal,
      budget: new OutputBudget<OutputLine>(this.options.logBytesPerRun ?? DEFAULT_LOG_BYTES_PER_RUN),
    };

    let sandbox: Sandbox | undefined;
    let outcome: Outcome;
    /** Ends the watch on the sandbox's exit, before bosun stops the sandbox itself. */
    const watch = new AbortController();
    try {
      sandbox = await this.options.sandboxes.create({
        runId: id,
        image: config.image,
        limits: config.limits,
        env: containerEnv(run),
        ...(config.user === null || config.user === undefined ? {} : { user: config.user }),
        signal: execution.signal,
      });
      const warmStart = sandbox.warmStart === true;
      this.recorder.patch(id, { containerId: sandbox.id, warmStart });
      this.recorder.events.emit('container-started', { runId: id, containerId: sandbox.id, limits: config.limits });
      const how = warmStart ? 'taken from the warm pool' : 'created';
      this.recorder.log(id, 'SYSTEM', null, `container ${sandbox.id.slice(0, 12)} ${how} with ${describeLimits(config.limits)}`);
      this.watchExit(sandbox, controller, watch.signal);
      if (config.initialRepoContext !== null) await sandbox.writeFile(CONTEXT_FILE_PATH, config.initialRepoContext);
      const result = await agent.run(createAgentContext(execution, sandbox, { recorder: this.recorder, stopGraceMs: this.options.stopGraceMs }));
      execution.signal.throwIfAborted();
      outcome = await this.classifyResult(id, sandbox, result);
    } catch (error) {
      outcome = this.classifyError(id, error, execution.signal);
    } finally {
      watch.abort();
      clearTimeout(deadline);
      signal.removeEventListener('abort', stopFromOutside);
    }

    if (sandbox) {
      // A stopped run's processes are stopped before its artifacts are copied (so that what they
      // write on SIGTERM is in the copy, and nothing writes during it), but the container is kept
      // until after the copy: its /workspace and /tmp are tmpfs, gone with it.
      if (execution.signal.reason instanceof RunStopped) await this.stopProcesses(id, sandbox);
      await this.collectArtifacts(id, sandbox);
      await this.dispose(id, sandbox);
    }
    this.recorder.finish(id, outcome.status, outcome.reason, outcome.error, outcome.exitCode);
  }

  /** The outcome of an agent that returned: success, or a failure whose cause the limit counters tell. */
  private async classifyResult(id: string, sandbox: Sandbox, result: AgentResult): Promise<Outcome> {
    if ('timedOut' in result) {
      this.recorder.log(id, 'SYSTEM', null, `killed: ${result.error}`);
      return { status: 'TIMED_OUT', reason: result.timedOut, error: result.error, exitCode: null };
    }
    if (result.exitCode === 0) return { status: 'SUCCEEDED', reason: null, error: null, exitCode: 0 };
    const limits = await sandbox.limitEvents();
    const { config } = this.recorder.require(id);
    if (limits.pidsLimitHits > 0) {
      this.recorder.log(id, 'SYSTEM', null, `the pids limit (${config.limits.pidsLimit}) refused ${limits.pidsLimitHits} fork(s)`);
    }
    if (limits.oomKills > 0) {
      const error = `${result.error ?? `exited ${result.exitCode}`}: killed by the kernel for exceeding the memory limit (${formatMemory(config.limits.memoryBytes)})`;
      this.recorder.log(id, 'SYSTEM', null, `OOM: ${error}`);
      return { status: 'FAILED', reason: 'OOM_KILLED', error, exitCode: result.exitCode };
    }
    return { status: 'FAILED', reason: 'NON_ZERO_EXIT', error: result.error ?? `exited ${result.exitCode}`, exitCode: result.exitCode };
  }

  /** The outcome of a run that threw: stopped from outside (deadline, cancel, shutdown), or a fault. */
  private classifyError(id: string, error: unknown, signal: AbortSignal): Outcome {
    const stopped = signal.aborted && signal.reason instanceof RunStopped ? signal.reason.stopCause : undefined;
    if (stopped === 'deadline') {
      const { config } = this.recorder.require(id);
      this.recorder.log(id, 'SYSTEM', null, `killed: run deadline of ${config.timeoutMs} ms`);
      return { status: 'TIMED_OUT', reason: 'RUN_TIMEOUT', error: `ran longer than its timeout of ${config.timeoutMs} ms`, exitCode: null };
    }
    if (stopped === 'cancel') {
      this.recorder.log(id, 'SYSTEM', null, 'killed: cancelled');
      return { status: 'CANCELLED', reason: null, error: 'cancelled while running', exitCode: null };
    }
    if (stopped === 'shutdown') {
      this.recorder.log(id, 'SYSTEM', null, 'killed: server shutting down');
      return { status: 'FAILED', reason: 'INTERRUPTED', error: 'the server shut down while the run was running', exitCode: null };
    }
    if (error instanceof SandboxError && error.code === 'DOCKER_UNAVAILABLE') this.options.onEngineLost?.(error);
    const message = !(error instanceof SandboxError)
      ? `agent error: ${errorMessage(error)}`
      : error.code === 'CONTAINER_GONE'
        ? `the sandbox container stopped unexpectedly: ${error.message}`
        : error.code === 'DOCKER_UNAVAILABLE'
          ? `lost the Docker engine while the run was running: ${error.message}`
          : error.message;
    this.recorder.log(id, 'SYSTEM', null, `sandbox error: ${message}`);
    this.options.logger.warn({ runId: id, err: error }, 'run failed with a sandbox error');
    return { status: 'FAILED', reason: 'SANDBOX_ERROR', error: message, exitCode: null };
  }

  /**
   * Stops a stopped run's processes and keeps its sandbox. When they cannot be signalled (the
   * pids limit leaves no room for the command that signals them, say), the whole sandbox is
   * killed instead: the run's processes must stop even if its files go with them.
   */
  private async stopProcesses(id: string, sandbox: Sandbox): Promise<void> {
    const graceMs = this.options.stopGraceMs;
    try {
      await sandbox.stopProcesses({ graceMs });
    } catch (error) {
      this.recorder.log(id, 'SYSTEM', null, `could not stop the run's processes and keep its sandbox (${errorMessage(error)}); killing the sandbox`);
      this.options.logger.warn({ runId: id, err: error }, 'stopping the processes of a sandbox failed: killing it');
      await sandbox.stop({ graceMs: 0 }).catch(() => undefined);
    }
  }

  /**
   * Stops the run when its sandbox stops of itself (killed from outside, its keep-alive gone), so
   * that a run that waits for calls does not learn it only at its idle timeout: the run's signal
   * aborts with a CONTAINER_GONE error, which the run ends with (SANDBOX_ERROR).
   */
  private watchExit(sandbox: Sandbox, run: AbortController, watch: AbortSignal): void {
    sandbox.waitForExit(AbortSignal.any([watch, run.signal])).then(
      (exit) => {
        if (!watch.aborted && !run.signal.aborted) run.abort(new SandboxError('CONTAINER_GONE', exit.description));
      },
      () => undefined,
    );
  }

  private async collectArtifacts(id: string, sandbox: Sandbox): Promise<void> {
    const paths = this.recorder.require(id).config.artifacts ?? [];
    if (paths.length === 0 || !this.options.collectArtifacts) return;
    await this.options
      .collectArtifacts({ runId: id, paths, sandbox, log: (message) => this.recorder.log(id, 'SYSTEM', null, message) })
      .catch((error: unknown) => this.options.logger.warn({ runId: id, err: error }, 'artifact collection failed'));
  }

  /** Removes the sandbox, retrying a Docker hiccup; a sandbox that cannot be removed is logged loudly and left for reaping. */
  private async dispose(id: string, sandbox: Sandbox): Promise<void> {
    const retryDelayMs = this.options.disposeRetryDelayMs ?? DEFAULT_DISPOSE_RETRY_DELAY_MS;
    for (let attempt = 1; attempt <= DISPOSE_ATTEMPTS; attempt += 1) {
      try {
        await sandbox.dispose();
        this.recorder.events.emit('container-removed', { runId: id, containerId: sandbox.id });
        return;
      } catch (error) {
        if (attempt === DISPOSE_ATTEMPTS) {
          this.recorder.log(
            id,
            'SYSTEM',
            null,
            `could not remove container ${sandbox.id.slice(0, 12)} yet (${errorMessage(error)}); it is reaped once the engine answers`,
          );
          this.options.logger.error({ runId: id, containerId: sandbox.id, err: error }, 'sandbox container not removed: left for reaping');
          this.options.sandboxes.forget(sandbox);
          this.recorder.events.emit('container-removed', { runId: id, containerId: sandbox.id });
          return;
        }
        await delay(retryDelayMs * attempt);
      }
    }
  }
}

/** The environment of every command of a run: its own variables, then bosun's, which it cannot override. */
export function containerEnv(run: AgentRun): Record<string, string> {
  const { config } = run;
  const env: Record<string, string> = {};
  for (const variable of config.env) env[variable.name] = variable.value;
  // The root file system is read-only: tools that write under $HOME get the /tmp tmpfs.
  env['HOME'] ??= '/tmp';
  Object.assign(env, {
    BOSUN_AGENT_ID: run.id,
    BOSUN_AGENT: config.agent,
    BOSUN_GROUP_ID: run.group.id,
    BOSUN_GROUP_NAME: run.group.name,
    BOSUN_WORKSPACE: WORKSPACE_DIR,
    BOSUN_CPU_LIMIT: String(config.limits.cpus),
    BOSUN_MEMORY_LIMIT_BYTES: String(config.limits.memoryBytes),
    BOSUN_PIDS_LIMIT: String(config.limits.pidsLimit),
    BOSUN_TIMEOUT_MS: String(config.timeoutMs),
  });
  if (config.initialRepoContext !== null) env['BOSUN_CONTEXT_FILE'] = CONTEXT_FILE_PATH;
  return env;
}
