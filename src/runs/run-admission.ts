/**
 * The admission of new runs: whether bosun takes one now (not shutting down, its store writing,
 * its image in the engine, the queue with room), then the run stored and put in line. It keeps the
 * runs being admitted (stored, not yet in line) so that a cancel or a shutdown can wait for them,
 * and caches the engine's info for the start input's checks.
 *
 * Split from {@link AgentRunService}, which keeps the lifecycle of admitted runs (recovery,
 * cancel, execution, shutdown) and asks this part to admit and to enqueue.
 */
import { randomUUID } from 'node:crypto';
import { BosunError, errorMessage, isBosunError } from '../errors.js';
import type { ExecutionQueue, QueueTicket } from '../queue/execution-queue.js';
import type { EngineInfo, SandboxProvider } from '../sandbox/sandbox.js';
import { isEngineUnavailable } from '../sandbox/sandbox-errors.js';
import type { AgentRegistry } from './agent-registry.js';
import type { AgentRun, StartAgentInput } from './agent-run.js';
import type { RunRecorder } from './run-recorder.js';
import type { StartAgentResult } from './run-service.js';
import type { RunStore } from './run-store.js';
import { resolveStartInput, type RunDefaults } from './start-input.js';

const ENGINE_INFO_TTL_MS = 30_000;

export interface RunAdmissionOptions {
  readonly store: Pick<RunStore, 'writeFault'>;
  readonly queue: Pick<ExecutionQueue, 'assertAdmits' | 'enqueue' | 'position' | 'stats'>;
  /** The engine-level checks made before admitting a run. */
  readonly sandboxes: Pick<SandboxProvider, 'engineInfo' | 'imageExists'>;
  readonly agents: AgentRegistry;
  readonly defaults: RunDefaults;
  readonly recorder: RunRecorder;
}

export class RunAdmission {
  /**
   * Runs being admitted (stored, not yet in line), each with the promise of its admission,
   * which never rejects: a cancel waits for it, and so does shutdown.
   */
  private readonly admitting = new Map<string, Promise<void>>();
  private engineInfoCache: { info: EngineInfo; at: number } | undefined;
  private accepting = true;

  constructor(private readonly options: RunAdmissionOptions) {}

  /**
   * Validates a new run against the defaults, the engine and the registered agents, and admits it.
   * @throws BosunError SHUTTING_DOWN, UNAVAILABLE (store), DOCKER_UNAVAILABLE, SANDBOX_ERROR,
   *   BAD_USER_INPUT, QUEUE_FULL.
   */
  async start(input: StartAgentInput): Promise<StartAgentResult> {
    this.assertOpen();
    const engine = await this.engineInfo();
    const { group, config } = resolveStartInput(input, this.options.defaults, { hostCpus: engine.cpus, agents: this.options.agents });
    return this.admit(group, config, null);
  }

  /** @throws BosunError SHUTTING_DOWN once {@link close}d; UNAVAILABLE while the store cannot write. */
  assertOpen(): void {
    this.assertAccepting();
    this.assertStoreWritable();
  }

  /** False once {@link close}d: shutdown has begun. */
  get isOpen(): boolean {
    return this.accepting;
  }

  /** Admits no new run from now on (shutdown); admissions under way end by themselves (see {@link settled}). */
  close(): void {
    this.accepting = false;
  }

  /** Settles once the run's admission is over, if it is being admitted; undefined otherwise. */
  settling(id: string): Promise<void> | undefined {
    return this.admitting.get(id);
  }

  /** Settles once every admission under way is over (each never rejects). */
  async settled(): Promise<void> {
    await Promise.all(this.admitting.values());
  }

  private assertAccepting(): void {
    if (!this.accepting) throw new BosunError('SHUTTING_DOWN', 'bosun is shutting down and accepts no new runs');
  }

  /** @throws BosunError UNAVAILABLE while the store cannot write: a run admitted now could not be kept. */
  private assertStoreWritable(): void {
    const fault = this.options.store.writeFault();
    if (fault !== null) throw storeUnavailable(fault);
  }

  /** Stores a new run with this group and configuration (a retry's `retryOf` set) and puts it in line. */
  async admit(group: AgentRun['group'], config: AgentRun['config'], retryOf: string | null): Promise<StartAgentResult> {
    const { recorder } = this.options;
    if (!(await this.imageExists(config.image))) {
      throw new BosunError(
        'BAD_USER_INPUT',
        `input.config.image: expected an image present in the Docker engine (build or pull it first), got ${JSON.stringify(config.image)}`,
        { field: 'input.config.image' },
      );
    }
    this.assertAccepting();
    this.assertStoreWritable();
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
      warmStart: false,
      node: null,
    });
    let admitted!: () => void;
    // A cancel of this run (its id is announced by the insert's event) waits until it is in line,
    // and so does a shutdown; settled whatever the outcome.
    this.admitting.set(
      run.id,
      new Promise<void>((resolve) => {
        admitted = resolve;
      }),
    );
    try {
      try {
        await recorder.insert(run);
      } catch (error) {
        // Nothing was stored: the run is refused and leaves no trace.
        throw storeUnavailable(errorMessage(error), error);
      }
      if (!this.accepting) {
        // Shutdown began while the store wrote it: it will not enter a line that is closing.
        const error = new BosunError('SHUTTING_DOWN', 'bosun is shutting down and accepts no new runs');
        recorder.finish(run.id, 'FAILED', null, 'bosun began shutting down before the run entered the line');
        throw error;
      }
      const ticket = await this.enqueue(run);
      // The snapshot after entering the line: a run that started at once is RUNNING.
      return { run: recorder.current(run.id) ?? (await recorder.load(run.id)), ticket };
    } finally {
      this.admitting.delete(run.id);
      admitted();
    }
  }

  /**
   * Puts a run stored by an earlier start back in line (recovery). Unlike a new run's, its refusal
   * because bosun is shutting down leaves it QUEUED in the store: it waited before this start and
   * waits for the next one (failing it would end a run nobody asked to end). Other refusals end it
   * as {@link enqueue} does.
   * @throws BosunError SHUTTING_DOWN once {@link close}d or the queue is closing (the run untouched);
   *   otherwise what the queue's `enqueue` throws.
   */
  async requeue(run: AgentRun): Promise<QueueTicket> {
    this.assertAccepting();
    return this.enqueue(run, { keepOnShutdown: true });
  }

  /**
   * Puts a stored run in line; a run the queue refuses ends FAILED with its reason (with
   * `keepOnShutdown`, a SHUTTING_DOWN refusal leaves it as it is: see {@link requeue}).
   * @throws what the queue's `enqueue` throws.
   */
  async enqueue(run: AgentRun, options: { readonly keepOnShutdown?: boolean } = {}): Promise<QueueTicket> {
    const { recorder } = this.options;
    let ticket: QueueTicket;
    try {
      ticket = await this.options.queue.enqueue(run.id, { queuedAt: run.queuedAt });
    } catch (error) {
      if (options.keepOnShutdown === true && isBosunError(error) && error.code === 'SHUTTING_DOWN') throw error;
      if (isBosunError(error) && error.code === 'INVALID_STATE') {
        // Already in line: in a cluster, a node starting meanwhile put the stored QUEUED run back
        // (restoreWaiting). It waits (or runs) as it should; failing it would record a wrong end.
        const stats = this.options.queue.stats();
        return { position: this.options.queue.position(run.id), running: stats.running, queued: stats.queued, maxConcurrency: stats.maxConcurrency };
      }
      // A line shorter than the stored waiting runs (MAX_QUEUE_LENGTH lowered across a restart) says so.
      const reason = isBosunError(error) && error.code === 'QUEUE_FULL' ? 'QUEUE_FULL' : null;
      recorder.finish(run.id, 'FAILED', reason, errorMessage(error));
      throw error;
    }
    // Still live: not finished already (a run whose agent is gone fails as it starts).
    if (recorder.current(run.id)) {
      recorder.log(run.id, 'SYSTEM', null, ticket.position === 0 ? 'started at once' : `queued at position ${ticket.position}`);
    }
    return ticket;
  }

  private async engineInfo(): Promise<EngineInfo> {
    const cached = this.engineInfoCache;
    if (cached && Date.now() - cached.at < ENGINE_INFO_TTL_MS) return cached.info;
    try {
      const info = await this.options.sandboxes.engineInfo();
      this.engineInfoCache = { info, at: Date.now() };
      return info;
    } catch (error) {
      if (!isEngineUnavailable(error))
        throw new BosunError('SANDBOX_ERROR', `the Docker engine refused to report its info: ${errorMessage(error)}`, { cause: error });
      throw new BosunError('DOCKER_UNAVAILABLE', `the Docker engine does not answer: ${errorMessage(error)}`, { cause: error });
    }
  }

  private async imageExists(image: string): Promise<boolean> {
    try {
      return await this.options.sandboxes.imageExists(image);
    } catch (error) {
      // An answer (a 400 for a reference the engine refuses, a refused redirect) is not an outage.
      if (!isEngineUnavailable(error))
        throw new BosunError('SANDBOX_ERROR', `the Docker engine refused to look up image ${JSON.stringify(image)}: ${errorMessage(error)}`, {
          cause: error,
        });
      throw new BosunError('DOCKER_UNAVAILABLE', `the Docker engine does not answer: ${errorMessage(error)}`, { cause: error });
    }
  }
}

function storeUnavailable(fault: string, cause?: unknown): BosunError {
  return new BosunError(
    'UNAVAILABLE',
    `bosun's store cannot write (${fault}), so no run is admitted until it can; running runs go on, and bosun retries by itself`,
    cause === undefined ? {} : { cause },
  );
}
