/**
 * The run lifecycle. `start` validates, stores and queues a run; when the queue gives it a slot,
 * the run gets a sandbox with its limits, its agent runs inside it under a deadline, and the
 * sandbox is removed before the run takes its final status and gives its slot back — on every
 * path: success, failure, OOM, deadline, cancel, a Docker fault or shutdown.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.js';
import type { AgentRegistry } from '../agents/agent-registry.js';
import type { AgentContext, AgentResult, StepOptions, StepOutcome } from '../agents/agent.js';
import { BosunError, errorMessage } from '../errors.js';
import type { ExecutionQueue, QueueTicket } from '../queue/execution-queue.js';
import type { DockerSandbox } from '../sandbox/docker-sandbox.js';
import { describeLimits, formatMemory } from '../sandbox/limits.js';
import type { EngineInfo, SandboxManager } from '../sandbox/sandbox-manager.js';
import { SandboxError, isEngineUnavailable } from '../sandbox/sandbox-errors.js';
import type { AgentRun, AgentStatus, FailureReason, LogLine, LogStream, StartAgentInput, StepResult } from './agent-run.js';
import { isFinalStatus } from './agent-run.js';
import type { RunStore } from './run-store.js';
import type { LogQuery, RunListQuery, RunService, RunServiceEvents, StartAgentResult } from './run-service.js';
import { OutputBudget } from './output-budget.js';
import { resolveStartInput, type RunDefaults } from './start-input.js';

export const WORKSPACE_DIR = '/workspace';
export const CONTEXT_FILE_PATH = '/workspace/.bosun/context.md';
const DEFAULT_LIST_LIMIT = 50;
const ENGINE_INFO_TTL_MS = 30_000;
const DISPOSE_ATTEMPTS = 3;

export interface AgentRunServiceOptions {
  readonly store: RunStore;
  readonly queue: ExecutionQueue;
  readonly sandboxes: Pick<SandboxManager, 'create' | 'imageExists' | 'engineInfo' | 'forget'>;
  readonly agents: AgentRegistry;
  readonly defaults: RunDefaults;
  readonly queueTimeoutMs: number;
  readonly stopGraceMs: number;
  /** Output bytes of a run that are recorded (see {@link OutputBudget}); default 32 MiB. */
  readonly logBytesPerRun?: number;
  /**
   * Called when a run finds the engine gone, before its slot is released, so that the queue can
   * be held rather than start waiting runs into the same fault.
   */
  readonly onEngineLost?: (error: SandboxError) => void;
  readonly logger: Logger;
}

/** Why a running run was stopped from outside. */
type StopCause = 'cancel' | 'deadline' | 'shutdown';

class RunStopped extends Error {
  readonly stopCause: StopCause;

  constructor(cause: StopCause) {
    super(`run stopped: ${cause}`);
    this.stopCause = cause;
  }
}

interface ActiveRun {
  readonly controller: AbortController;
  readonly settled: Promise<void>;
}

interface OutputLine {
  readonly stream: LogStream;
  readonly step: number;
  readonly line: string;
}

const DEFAULT_LOG_BYTES_PER_RUN = 32 * 1024 * 1024;

export class AgentRunService implements RunService {
  readonly events = new EventEmitter<RunServiceEvents>();
  private readonly active = new Map<string, ActiveRun>();
  private readonly budgets = new Map<string, OutputBudget<OutputLine>>();
  private engineInfoCache: { info: EngineInfo; at: number } | undefined;
  private accepting = true;

  constructor(private readonly options: AgentRunServiceOptions) {
    // Listeners per subscription: many clients may follow runs at once.
    this.events.setMaxListeners(0);
    options.queue.events.on('left', ({ id, reason, waitedMs }) => {
      const run = this.options.store.get(id);
      if (!run || isFinalStatus(run.status)) return;
      if (reason === 'timed-out') {
        this.finish(id, 'TIMED_OUT', 'QUEUE_TIMEOUT', `waited ${waitedMs} ms in the queue, longer than the queue timeout of ${this.options.queueTimeoutMs} ms`);
      } else if (reason === 'cancelled') {
        this.finish(id, 'CANCELLED', null, 'cancelled while waiting in the queue');
      } else {
        // Shutdown: the run stays QUEUED in the store and re-enters the line at the next start.
        this.log(id, 'SYSTEM', null, 'the server is shutting down; the run stays queued for the next start');
      }
    });
  }

  async start(input: StartAgentInput): Promise<StartAgentResult> {
    this.assertAccepting();
    const engine = await this.engineInfo();
    const { group, config } = resolveStartInput(input, this.options.defaults, { hostCpus: engine.cpus, agents: this.options.agents });
    return this.admit(group, config, null);
  }

  /**
   * Starts a new run with the same group and configuration as a finished one, linked to it.
   * @throws BosunError NOT_FOUND, INVALID_STATE (not finished), plus those of {@link start}.
   */
  async retry(id: string): Promise<StartAgentResult> {
    this.assertAccepting();
    const previous = this.requireRun(id);
    if (!isFinalStatus(previous.status)) {
      throw new BosunError('INVALID_STATE', `run ${id} is ${previous.status}; only a finished run can be retried`);
    }
    if (!this.options.agents.get(previous.config.agent)) {
      throw new BosunError('INVALID_STATE', `run ${id} used agent ${JSON.stringify(previous.config.agent)}, which is no longer registered`);
    }
    return this.admit(previous.group, previous.config, id);
  }

  /**
   * Recovers what a previous process left in the store, before anything new is admitted: runs
   * that were RUNNING end FAILED / INTERRUPTED (their containers are reaped separately), and
   * waiting runs re-enter the line in their original order with their original `queuedAt`.
   */
  recover(): { readonly interrupted: number; readonly requeued: number } {
    let interrupted = 0;
    let requeued = 0;
    for (const run of this.options.store.unfinished()) {
      if (run.status === 'RUNNING') {
        this.log(run.id, 'SYSTEM', null, 'the server stopped while this run was running; its container is removed at restart');
        this.finish(run.id, 'FAILED', 'INTERRUPTED', 'the server stopped while the run was running');
        interrupted += 1;
      } else {
        try {
          this.enqueue(run);
          requeued += 1;
        } catch (error) {
          // A line shorter than before (MAX_QUEUE_LENGTH lowered): the run was failed with the
          // queue's reason; the others are still recovered.
          this.options.logger.warn({ agentId: run.id, err: error }, 'a stored waiting run could not re-enter the line');
        }
      }
    }
    return { interrupted, requeued };
  }

  private assertAccepting(): void {
    if (!this.accepting) throw new BosunError('SHUTTING_DOWN', 'bosun is shutting down and accepts no new runs');
  }

  private async admit(group: AgentRun['group'], config: AgentRun['config'], retryOf: string | null): Promise<StartAgentResult> {
    if (!(await this.imageExists(config.image))) {
      throw new BosunError(
        'BAD_USER_INPUT',
        `input.config.image: expected an image present in the Docker engine (build or pull it first), got ${JSON.stringify(config.image)}`,
        { field: 'input.config.image' },
      );
    }
    this.assertAccepting();
    // Refuse before recording: a run the queue will not take must leave no trace.
    this.options.queue.assertAdmits();
    const run: AgentRun = Object.freeze({
      id: randomUUID(),
      status: 'QUEUED',
      failureReason: null,
      error: null,
      group,
      config,
      containerId: null,
      exitCode: null,
      steps: [],
      queuedAt: new Date(),
      startedAt: null,
      finishedAt: null,
      retryOf,
    });
    this.options.store.insert(run);
    this.events.emit('run-updated', run);
    const ticket = this.enqueue(run);
    return { run: this.options.store.get(run.id)!, ticket };
  }

  private enqueue(run: AgentRun): QueueTicket {
    let ticket: QueueTicket;
    try {
      ticket = this.options.queue.enqueue(run.id, (signal) => this.execute(run.id, signal), { queuedAt: run.queuedAt });
    } catch (error) {
      this.finish(run.id, 'FAILED', null, errorMessage(error));
      throw error;
    }
    const current = this.options.store.get(run.id);
    if (current && !isFinalStatus(current.status)) {
      this.log(run.id, 'SYSTEM', null, ticket.position === 0 ? 'started at once' : `queued at position ${ticket.position}`);
    }
    return ticket;
  }

  async cancel(id: string): Promise<AgentRun> {
    const run = this.requireRun(id);
    if (isFinalStatus(run.status)) {
      throw new BosunError('INVALID_STATE', `run ${id} has already finished (${run.status}) and cannot be cancelled`);
    }
    if (this.options.queue.cancel(id)) return this.requireRun(id);
    const active = this.active.get(id);
    if (active) {
      active.controller.abort(new RunStopped('cancel'));
      await active.settled;
    }
    return this.requireRun(id);
  }

  get(id: string): AgentRun | undefined {
    return this.options.store.get(id);
  }

  list(query: RunListQuery = {}): readonly AgentRun[] {
    const status = query.status && query.status.length > 0 ? new Set(query.status) : undefined;
    return this.options.store.list(status, query.limit ?? DEFAULT_LIST_LIMIT);
  }

  logs(id: string, query: LogQuery = {}): readonly LogLine[] {
    this.requireRun(id);
    return this.options.store.readLogs(id, query.afterSeq ?? undefined, query.last ?? undefined);
  }

  position(id: string): number {
    return this.options.queue.position(id);
  }

  /**
   * Graceful shutdown: stops admitting runs and starting waiting ones, lets running runs finish
   * for up to `graceMs`, then stops the rest (they end FAILED / INTERRUPTED) and waits until
   * every sandbox is gone. Waiting runs stay QUEUED in the store for the next start.
   */
  async shutdown(graceMs = 0): Promise<void> {
    this.accepting = false;
    this.options.queue.pause();
    const running = [...this.active.values()].map((active) => active.settled);
    if (running.length > 0 && graceMs > 0) {
      this.options.logger.info({ running: running.length, graceMs }, 'waiting for running runs to finish');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(running), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    this.options.queue.close();
    for (const active of this.active.values()) active.controller.abort(new RunStopped('shutdown'));
    await Promise.all([...this.active.values()].map((active) => active.settled));
    if (this.options.store.flush) this.options.store.flush();
  }

  private requireRun(id: string): AgentRun {
    const run = this.options.store.get(id);
    if (!run) throw new BosunError('NOT_FOUND', `no run with id ${JSON.stringify(id)}`);
    return run;
  }

  private async engineInfo(): Promise<EngineInfo> {
    const cached = this.engineInfoCache;
    if (cached && Date.now() - cached.at < ENGINE_INFO_TTL_MS) return cached.info;
    try {
      const info = await this.options.sandboxes.engineInfo();
      this.engineInfoCache = { info, at: Date.now() };
      return info;
    } catch (error) {
      if (!isEngineUnavailable(error)) throw new BosunError('SANDBOX_ERROR', `the Docker engine refused to report its info: ${errorMessage(error)}`, { cause: error });
      throw new BosunError('DOCKER_UNAVAILABLE', `the Docker engine does not answer: ${errorMessage(error)}`, { cause: error });
    }
  }

  private async imageExists(image: string): Promise<boolean> {
    try {
      return await this.options.sandboxes.imageExists(image);
    } catch (error) {
      // An answer (a 400 for a reference the engine refuses, a refused redirect) is not an outage.
      if (!isEngineUnavailable(error)) throw new BosunError('SANDBOX_ERROR', `the Docker engine refused to look up image ${JSON.stringify(image)}: ${errorMessage(error)}`, { cause: error });
      throw new BosunError('DOCKER_UNAVAILABLE', `the Docker engine does not answer: ${errorMessage(error)}`, { cause: error });
    }
  }

  /** The queue task: runs the agent in a sandbox and settles only once the sandbox is gone. */
  private execute(id: string, queueSignal: AbortSignal): Promise<void> {
    const controller = new AbortController();
    const onQueueAbort = () => controller.abort(new RunStopped('shutdown'));
    queueSignal.addEventListener('abort', onQueueAbort, { once: true });
    const settled = this.runInSandbox(id, controller).finally(() => {
      queueSignal.removeEventListener('abort', onQueueAbort);
      this.active.delete(id);
    });
    this.active.set(id, { controller, settled });
    return settled;
  }

  private async runInSandbox(id: string, controller: AbortController): Promise<void> {
    const { signal } = controller;
    const initial = this.requireRun(id);
    const { config } = initial;
    this.patch(id, { status: 'RUNNING', startedAt: new Date() });
    const deadline = setTimeout(() => controller.abort(new RunStopped('deadline')), config.timeoutMs);
    deadline.unref();
    this.budgets.set(id, new OutputBudget<OutputLine>(this.options.logBytesPerRun ?? DEFAULT_LOG_BYTES_PER_RUN));

    let sandbox: DockerSandbox | undefined;
    let outcome: { status: AgentStatus; reason: FailureReason | null; error: string | null; exitCode: number | null };
    try {
      sandbox = await this.options.sandboxes.create({
        agentId: id,
        image: config.image,
        limits: config.limits,
        env: this.containerEnv(initial),
        ...(config.user === null || config.user === undefined ? {} : { user: config.user }),
        signal,
      });
      this.patch(id, { containerId: sandbox.id });
      this.events.emit('container-started', { agentId: id, containerId: sandbox.id, limits: config.limits });
      this.log(id, 'SYSTEM', null, `container ${sandbox.id.slice(0, 12)} created with ${describeLimits(config.limits)}`);
      if (config.initialRepoContext !== null) await sandbox.writeFile(CONTEXT_FILE_PATH, config.initialRepoContext);
      const agent = this.options.agents.get(config.agent)!;
      const result = await agent.run(this.agentContext(id, sandbox, signal));
      signal.throwIfAborted();
      outcome = await this.classifyResult(id, sandbox, result);
    } catch (error) {
      outcome = this.classifyError(id, error, signal);
    } finally {
      clearTimeout(deadline);
    }

    if (sandbox) {
      if (signal.aborted) await sandbox.stop({ graceMs: this.options.stopGraceMs }).catch(() => undefined);
      await this.dispose(id, sandbox);
    }
    this.budgets.delete(id);
    this.finish(id, outcome.status, outcome.reason, outcome.error, outcome.exitCode);
  }

  private async classifyResult(id: string, sandbox: DockerSandbox, result: AgentResult) {
    if (result.exitCode === 0) return { status: 'SUCCEEDED' as const, reason: null, error: null, exitCode: 0 };
    const limits = await sandbox.limitEvents();
    const { config } = this.requireRun(id);
    if (limits.pidsLimitHits > 0) {
      this.log(id, 'SYSTEM', null, `the pids limit (${config.limits.pidsLimit}) refused ${limits.pidsLimitHits} fork(s)`);
    }
    if (limits.oomKills > 0) {
      const error = `${result.error ?? `exited ${result.exitCode}`}: killed by the kernel for exceeding the memory limit (${formatMemory(config.limits.memoryBytes)})`;
      this.log(id, 'SYSTEM', null, `OOM: ${error}`);
      return { status: 'FAILED' as const, reason: 'OOM_KILLED' as const, error, exitCode: result.exitCode };
    }
    return { status: 'FAILED' as const, reason: 'NON_ZERO_EXIT' as const, error: result.error ?? `exited ${result.exitCode}`, exitCode: result.exitCode };
  }

  private classifyError(id: string, error: unknown, signal: AbortSignal) {
    const stopped = signal.aborted && signal.reason instanceof RunStopped ? signal.reason.stopCause : undefined;
    if (stopped === 'deadline') {
      const { config } = this.requireRun(id);
      this.log(id, 'SYSTEM', null, `killed: run deadline of ${config.timeoutMs} ms`);
      return { status: 'TIMED_OUT' as const, reason: 'RUN_TIMEOUT' as const, error: `ran longer than its timeout of ${config.timeoutMs} ms`, exitCode: null };
    }
    if (stopped === 'cancel') {
      this.log(id, 'SYSTEM', null, 'killed: cancelled');
      return { status: 'CANCELLED' as const, reason: null, error: 'cancelled while running', exitCode: null };
    }
    if (stopped === 'shutdown') {
      this.log(id, 'SYSTEM', null, 'killed: server shutting down');
      return { status: 'FAILED' as const, reason: 'INTERRUPTED' as const, error: 'the server shut down while the run was running', exitCode: null };
    }
    if (error instanceof SandboxError && error.code === 'DOCKER_UNAVAILABLE') this.options.onEngineLost?.(error);
    const message = !(error instanceof SandboxError)
      ? `agent error: ${errorMessage(error)}`
      : error.code === 'CONTAINER_GONE'
        ? `the sandbox container stopped unexpectedly: ${error.message}`
        : error.code === 'DOCKER_UNAVAILABLE'
          ? `lost the Docker engine while the run was running: ${error.message}`
          : error.message;
    this.log(id, 'SYSTEM', null, `sandbox error: ${message}`);
    this.options.logger.warn({ agentId: id, err: error }, 'run failed with a sandbox error');
    return { status: 'FAILED' as const, reason: 'SANDBOX_ERROR' as const, error: message, exitCode: null };
  }

  /** Removes the sandbox, retrying a Docker hiccup; a container that cannot be removed is logged loudly. */
  private async dispose(id: string, sandbox: DockerSandbox): Promise<void> {
    for (let attempt = 1; attempt <= DISPOSE_ATTEMPTS; attempt += 1) {
      try {
        await sandbox.dispose();
        this.events.emit('container-removed', { agentId: id, containerId: sandbox.id });
        return;
      } catch (error) {
        if (attempt === DISPOSE_ATTEMPTS) {
          this.log(id, 'SYSTEM', null, `could not remove container ${sandbox.id.slice(0, 12)} yet (${errorMessage(error)}); it is reaped once the engine answers`);
          this.options.logger.error({ agentId: id, containerId: sandbox.id, err: error }, 'sandbox container not removed: left for reaping');
          this.options.sandboxes.forget(sandbox);
          this.events.emit('container-removed', { agentId: id, containerId: sandbox.id });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
      }
    }
  }

  private containerEnv(run: AgentRun): Record<string, string> {
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

  private agentContext(id: string, sandbox: DockerSandbox, signal: AbortSignal): AgentContext {
    const run = this.requireRun(id);
    return {
      agentId: id,
      config: run.config,
      limits: run.config.limits,
      signal,
      workspaceDir: WORKSPACE_DIR,
      contextFilePath: run.config.initialRepoContext === null ? null : CONTEXT_FILE_PATH,
      step: (command, options) => this.step(id, sandbox, command, signal, options),
      writeFile: (path, content) => sandbox.writeFile(path, content),
      log: (message) => this.log(id, 'SYSTEM', null, message),
    };
  }

  private async step(id: string, sandbox: DockerSandbox, command: string, signal: AbortSignal, options: StepOptions = {}): Promise<StepOutcome> {
    signal.throwIfAborted();
    const index = this.requireRun(id).steps.length + 1;
    const step: StepResult = { index, command, exitCode: null, startedAt: new Date(), finishedAt: null };
    this.patch(id, { steps: [...this.requireRun(id).steps, step] });
    this.log(id, 'SYSTEM', index, `step ${index}: ${command}`);
    const budget = this.budgets.get(id);
    const record = (stream: LogStream, line: string) => {
      if (!budget || budget.admit({ stream, step: index, line }, Buffer.byteLength(line) + 1)) {
        this.log(id, stream, index, line);
      }
    };
    let exitCode: number;
    try {
      ({ exitCode } = await sandbox.exec(command, {
        cwd: options.cwd ?? WORKSPACE_DIR,
        ...(options.env === undefined ? {} : { env: options.env }),
        signal,
        onOutput: (stream, line) => record(stream === 'stdout' ? 'STDOUT' : 'STDERR', line),
      }));
    } finally {
      if (budget?.holding) this.recordTail(id, index, budget);
    }
    const steps = this.requireRun(id).steps.map((s) => (s.index === index ? { ...s, exitCode, finishedAt: new Date() } : s));
    this.patch(id, { steps, exitCode });
    this.log(id, 'SYSTEM', index, `step ${index} exited ${exitCode}`);
    return { index, exitCode };
  }

  /** Says how much output went over the budget, then records the held tail of the step. */
  private recordTail(id: string, index: number, budget: OutputBudget<OutputLine>): void {
    const { droppedLines, droppedBytes, tail } = budget.drain();
    this.log(
      id,
      'SYSTEM',
      index,
      `output over the ${formatMemory(budget.limitBytes)} log budget: ${droppedLines} line(s), ${droppedBytes} byte(s) not kept; the last ${tail.length} line(s) follow`,
    );
    for (const held of tail) this.log(id, held.stream, held.step, held.line);
  }

  private log(id: string, stream: LogStream, step: number | null, line: string): void {
    const entry = this.options.store.appendLog(id, stream, step, line);
    this.events.emit('log', entry);
  }

  private patch(id: string, changes: Partial<Omit<AgentRun, 'id'>>): AgentRun {
    const next = Object.freeze({ ...this.requireRun(id), ...changes });
    this.options.store.update(next);
    this.events.emit('run-updated', next);
    return next;
  }

  private finish(id: string, status: AgentStatus, reason: FailureReason | null, error: string | null, exitCode?: number | null): void {
    const run = this.requireRun(id);
    if (isFinalStatus(run.status)) return;
    this.patch(id, {
      status,
      failureReason: reason,
      error,
      finishedAt: new Date(),
      ...(exitCode === undefined ? {} : { exitCode }),
    });
    this.options.logger.info({ agentId: id, status, reason }, `run ${status.toLowerCase()}`);
  }
}
