/**
 * The run lifecycle's front door: `start` and `retry` validate, store and queue a run (the
 * checks and the admission itself are {@link RunAdmission}'s);
 * `recover` brings back what a previous process left in the store ({@link RunRecovery}); `cancel` takes a run out of
 * the line or stops it; reads and logs come from the store; `shutdown` drains. When the queue
 * gives a run its slot, the {@link RunExecutor} runs it in a sandbox and gives it its final
 * status; this service only keeps the handle to stop it.
 *
 * The queue is built with this service's {@link AgentRunService.runTask} as its handler (the
 * composition root wires it), so that the node that starts a run needs only its id.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.js';
import type { AgentRegistry } from './agent-registry.js';
import { BosunError } from '../errors.js';
import type { ExecutionQueue, ExecutionQueueEvents } from '../queue/execution-queue.js';
import type { SandboxProvider } from '../sandbox/sandbox.js';
import type { SandboxError } from '../sandbox/sandbox-errors.js';
import { delay } from '../shared/deadline.js';
import type { AgentRun, FailureGroup, LogLine, StartAgentInput } from './agent-run.js';
import { isFinalStatus } from './agent-run.js';
import type { RunFilter, RunPage, RunStore } from './run-store.js';
import type { LogQuery, RunListQuery, RunPageQuery, RunQueryFilter, RunService, RunServiceEvents, StartAgentResult } from './run-service.js';
import { RunExecutor, RunStopped, type RunExecutorOptions } from './run-executor.js';
import { RunAdmission } from './run-admission.js';
import { RunRecovery, type ClusterRecovery } from './run-recovery.js';
import { RunRecorder } from './run-recorder.js';
import type { RunDefaults } from './start-input.js';

export { CONTEXT_FILE_PATH, WORKSPACE_DIR } from './run-executor.js';
const DEFAULT_LIST_LIMIT = 50;
/** How long a cancel waits for a run taken from the line by a node to be recorded RUNNING (cluster mode). */
const HANDOFF_WAIT_MS = 10_000;
const HANDOFF_POLL_MS = 50;

export interface AgentRunServiceOptions {
  readonly store: RunStore;
  /** Built with {@link AgentRunService.runTask} as its handler. */
  readonly queue: ExecutionQueue;
  /** Where runs get their sandboxes, and the engine-level checks made before admitting one. */
  readonly sandboxes: SandboxProvider;
  readonly agents: AgentRegistry;
  readonly defaults: RunDefaults;
  readonly queueTimeoutMs: number;
  /**
   * What shutdown pauses so that this node starts no more runs: in a cluster, this node's share of
   * the shared line (pausing the line itself would stop every node). Default: the queue.
   */
  readonly nodeQueue?: Pick<ExecutionQueue, 'pause'>;
  /** This node's name in a cluster (`AgentRun.node` of the runs it takes); null or absent embedded. */
  readonly nodeName?: string | null;
  /** How long a stopped run's processes get after SIGTERM before they are killed. */
  readonly stopGraceMs: number;
  /** Output bytes of a run that are recorded (see `OutputBudget`); default 32 MiB. */
  readonly logBytesPerRun?: number;
  /**
   * Called when a run finds the engine gone, before its slot is released, so that the queue can
   * be held rather than start waiting runs into the same fault.
   */
  readonly onEngineLost?: (error: SandboxError) => void;
  /** Copies a run's artifacts out of its sandbox when it ends (see `RunExecutorOptions.collectArtifacts`). */
  readonly collectArtifacts?: RunExecutorOptions['collectArtifacts'];
  /**
   * Cluster mode: cancels a run that runs on another node, on that node (node forwarding), and
   * answers the run as it is then. Absent, such a cancel is refused UNAVAILABLE, naming the node.
   */
  readonly cancelElsewhere?: (runId: string, node: string) => Promise<AgentRun>;
  readonly logger: Logger;
}

/** A run that has its slot: how to stop it, and when it is over (its sandbox gone). */
interface ActiveRun {
  readonly controller: AbortController;
  readonly settled: Promise<void>;
}

export class AgentRunService implements RunService {
  readonly events = new EventEmitter<RunServiceEvents>();
  private readonly active = new Map<string, ActiveRun>();
  private readonly recorder: RunRecorder;
  private readonly executor: RunExecutor;
  /** Takes new runs in: the checks, the store and the line (see run-admission.ts). */
  private readonly admission: RunAdmission;
  /** What a previous process or a dead node left: recovered, or recorded lost. */
  private readonly recovery: RunRecovery;
  /** Runs not live here that left the line, until their leaving is recorded (read from the store first). */
  private readonly leaving = new Map<string, Promise<void>>();

  constructor(private readonly options: AgentRunServiceOptions) {
    // Listeners per subscription: many clients may follow runs at once.
    this.events.setMaxListeners(0);
    this.recorder = new RunRecorder(options.store, this.events, options.logger);
    this.executor = new RunExecutor({
      sandboxes: options.sandboxes,
      agents: options.agents,
      recorder: this.recorder,
      stopGraceMs: options.stopGraceMs,
      nodeName: options.nodeName ?? null,
      ...(options.logBytesPerRun === undefined ? {} : { logBytesPerRun: options.logBytesPerRun }),
      ...(options.onEngineLost === undefined ? {} : { onEngineLost: options.onEngineLost }),
      ...(options.collectArtifacts === undefined ? {} : { collectArtifacts: options.collectArtifacts }),
      logger: options.logger,
    });
    this.admission = new RunAdmission({
      store: options.store,
      queue: options.queue,
      sandboxes: options.sandboxes,
      agents: options.agents,
      defaults: options.defaults,
      recorder: this.recorder,
    });
    this.recovery = new RunRecovery({
      store: options.store,
      agents: options.agents,
      recorder: this.recorder,
      admission: this.admission,
      logger: options.logger,
    });
    if (options.nodeName != null) {
      // A run admitted here and taken by another node is recorded there from now on: this node
      // reads it from the shared store. One that runs here is active (or reloads in runTask).
      options.queue.events.on('started', ({ id }) => {
        if (!this.active.has(id)) this.recorder.release(id);
      });
    }
    options.queue.events.on('left', (event) => {
      if (event.byThisNode === false) {
        // Another node took it out of the line and records its end: exactly one node writes it
        // (each writing it would store, announce and log the same end once per node).
        this.recorder.release(event.id);
        return;
      }
      // A run recorded here is live in the recorder: recorded at once, so that a cancel returns
      // the cancelled run. Another (recorded by another node) is read from the store first.
      if (this.recorder.current(event.id)) this.hasLeft(event);
      else {
        const recorded = this.recorder.get(event.id).then(
          (run) => {
            if (!run || isFinalStatus(run.status)) return;
            this.recorder.track(run);
            this.hasLeft(event);
          },
          (error: unknown) => this.options.logger.warn({ runId: event.id, err: error }, 'could not record that a run left the line'),
        );
        // A cancel on this node waits for it (see cancel), so that it answers the cancelled run.
        this.leaving.set(event.id, recorded);
        void recorded.finally(() => {
          if (this.leaving.get(event.id) === recorded) this.leaving.delete(event.id);
        });
      }
    });
  }

  /** Records why a live run left the line without starting. */
  private hasLeft({ id, reason, waitedMs }: ExecutionQueueEvents['left'][0]): void {
    if (reason === 'timed-out') {
      this.recorder.finish(
        id,
        'TIMED_OUT',
        'QUEUE_TIMEOUT',
        `waited ${waitedMs} ms in the queue, longer than the queue timeout of ${this.options.queueTimeoutMs} ms`,
      );
    } else if (reason === 'cancelled') {
      this.recorder.finish(id, 'CANCELLED', null, 'cancelled while waiting in the queue');
    } else {
      // Shutdown: the run stays QUEUED in the store and re-enters the line at the next start.
      this.recorder.log(id, 'SYSTEM', null, 'the server is shutting down; the run stays queued for the next start');
    }
  }

  start(input: StartAgentInput): Promise<StartAgentResult> {
    return this.admission.start(input);
  }

  /**
   * Starts a new run with the same group and configuration as a finished one, linked to it.
   * @throws BosunError NOT_FOUND, INVALID_STATE (not finished), plus those of {@link start}.
   */
  async retry(id: string): Promise<StartAgentResult> {
    this.admission.assertOpen();
    const previous = await this.recorder.load(id);
    if (!isFinalStatus(previous.status)) {
      throw new BosunError('INVALID_STATE', `run ${id} is ${previous.status}; only a finished run can be retried`);
    }
    if (!this.options.agents.get(previous.config.agent)) {
      throw new BosunError('INVALID_STATE', `run ${id} used agent ${JSON.stringify(previous.config.agent)}, which is no longer registered`);
    }
    return this.admission.admit(previous.group, previous.config, id);
  }

  /**
   * Recovers what a previous process left in the store, before anything new is admitted (see
   * {@link RunRecovery.recover}).
   */
  recover(cluster?: ClusterRecovery): Promise<{ readonly interrupted: number; readonly requeued: number }> {
    return this.recovery.recover(cluster);
  }

  /** Records a run the cluster lost, unless it is final already (see {@link RunRecovery.markLost}). */
  markLost(id: string, node: string): Promise<boolean> {
    return this.recovery.markLost(id, node);
  }

  /** Records every RUNNING run of a node that died without leaving as lost (see {@link RunRecovery.markNodeLost}). */
  markNodeLost(node: string): Promise<string[]> {
    return this.recovery.markNodeLost(node);
  }

  /** The QUEUED runs of the store, oldest first: what a cluster puts back in line after Redis lost its data. */
  queuedRuns(): Promise<{ id: string; queuedAt: Date }[]> {
    return this.recovery.queuedRuns();
  }

  /** How many runs run on this node now (for its heartbeat). */
  get runningHere(): number {
    return this.active.size;
  }

  async cancel(id: string): Promise<AgentRun> {
    // A run still being admitted is cancelled once it is in line (or has failed to enter it).
    const admitting = this.admission.settling(id);
    if (admitting) await admitting;
    const run = await this.recorder.load(id);
    if (isFinalStatus(run.status)) {
      throw new BosunError('INVALID_STATE', `run ${id} has already finished (${run.status}) and cannot be cancelled`);
    }
    if (await this.options.queue.cancel(id)) {
      // A run another node admitted is recorded as cancelled once it is read from the store.
      await this.leaving.get(id);
      return this.recorder.load(id);
    }
    const active = this.active.get(id);
    if (active) {
      active.controller.abort(new RunStopped('cancel'));
      await active.settled;
    } else if (!this.admission.isOpen && run.status === 'QUEUED') {
      // Shutdown has cleared the line: the run is neither waiting nor running, and would re-enter
      // the line at the next start. The cancel is recorded instead, so it does not.
      this.recorder.track(run);
      this.recorder.finish(id, 'CANCELLED', null, 'cancelled while bosun was shutting down');
    } else {
      let current = await this.recorder.load(id);
      // Neither in line nor running here: in a cluster, a node may have taken it from the line
      // and not recorded it RUNNING yet. Answering it QUEUED would let it run, cancel or not.
      if (this.options.nodeName != null && current.status === 'QUEUED') current = await this.untilTaken(id);
      const taken = this.active.get(id);
      if (taken) {
        taken.controller.abort(new RunStopped('cancel'));
        await taken.settled;
      } else if (current.status === 'RUNNING' && current.node !== null && current.node !== this.options.nodeName) {
        // A run another node runs is stopped by that node (node forwarding, issue #17).
        if (this.options.cancelElsewhere) return this.options.cancelElsewhere(id, current.node);
        throw new BosunError(
          'UNAVAILABLE',
          `run ${id} runs on node ${current.node}, and this node cannot stop it: send cancelAgent to node ${current.node}`,
        );
      }
    }
    if (this.options.nodeName != null) {
      // A cluster's other nodes read the run from the shared store: written before the answer, so
      // that a read sent to any node after it (the forwarding node's first) finds it cancelled.
      await this.options.store.flush();
    }
    return this.recorder.load(id);
  }

  /**
   * The run once the node that took it from the line has recorded it (or it runs here); it is
   * RUNNING within moments of being taken, as its node reads it from the store first.
   * @throws BosunError UNAVAILABLE when it is still QUEUED after {@link HANDOFF_WAIT_MS}.
   */
  private async untilTaken(id: string): Promise<AgentRun> {
    const deadline = Date.now() + HANDOFF_WAIT_MS;
    for (;;) {
      const run = await this.recorder.load(id);
      if (run.status !== 'QUEUED' || this.active.has(id)) return run;
      if (Date.now() >= deadline) {
        throw new BosunError(
          'UNAVAILABLE',
          `run ${id} has left the line to start, and the node that took it has not recorded it within ${HANDOFF_WAIT_MS} ms; try the cancel again`,
        );
      }
      await delay(HANDOFF_POLL_MS);
    }
  }

  get(id: string): Promise<AgentRun | undefined> {
    return this.recorder.get(id);
  }

  list(query: RunListQuery = {}): Promise<readonly AgentRun[]> {
    const status = query.status && query.status.length > 0 ? new Set(query.status) : undefined;
    return this.options.store.list(status, query.limit ?? DEFAULT_LIST_LIMIT);
  }

  page(query: RunPageQuery): Promise<RunPage> {
    return this.options.store.page(runFilter(query), query.first, query.olderThan ?? undefined);
  }

  count(filter: RunQueryFilter): Promise<number> {
    return this.options.store.count(runFilter(filter));
  }

  group(id: string): Promise<FailureGroup | undefined> {
    return this.options.store.group(id);
  }

  async logs(id: string, query: LogQuery = {}): Promise<readonly LogLine[]> {
    await this.recorder.load(id);
    return this.options.store.readLogs(id, query.afterSeq ?? undefined, query.last ?? undefined, query.limit ?? undefined);
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
    this.admission.close();
    await (this.options.nodeQueue ?? this.options.queue).pause();
    const running = [...this.active.values()].map((active) => active.settled);
    if (running.length > 0 && graceMs > 0) {
      this.options.logger.info({ running: running.length, graceMs }, 'waiting for running runs to finish');
      const finished = new AbortController();
      await Promise.race([Promise.all(running).finally(() => finished.abort()), delay(graceMs, [finished.signal])]);
    }
    await this.options.queue.close();
    // Admissions under way end now (the closed queue refuses them), before the last runs are stopped.
    await this.admission.settled();
    for (const active of this.active.values()) active.controller.abort(new RunStopped('shutdown'));
    await Promise.all([...this.active.values()].map((active) => active.settled));
    await this.options.store.flush();
  }

  /**
   * The queue's handler (`QueueTaskHandler`): runs a run that got its slot, and settles only once its
   * sandbox is gone. A run recorded here is started at once (inside the queue's call); one
   * recorded by another node is read from the store first, and run only if it is still QUEUED
   * there: a run the line hands out again (put back from the store after Redis lost its data, just
   * as its node had taken it) has started elsewhere, or ended, and must not run twice.
   * @throws BosunError NOT_FOUND (as a rejection) for a run the store does not know.
   */
  runTask(id: string, queueSignal: AbortSignal): Promise<void> {
    if (this.recorder.current(id)) return this.execute(id, queueSignal);
    return this.recorder.load(id).then((run) => {
      if (run.status !== 'QUEUED') {
        this.options.logger.warn(
          { runId: id, status: run.status, node: run.node },
          'the line handed out a run the store no longer has waiting: it is not run again',
        );
        return;
      }
      this.recorder.track(run);
      return this.execute(id, queueSignal);
    });
  }

  private execute(id: string, queueSignal: AbortSignal): Promise<void> {
    const controller = new AbortController();
    const onQueueAbort = () => controller.abort(new RunStopped('shutdown'));
    queueSignal.addEventListener('abort', onQueueAbort, { once: true });
    const settled = this.executor.execute(id, controller.signal).finally(() => {
      queueSignal.removeEventListener('abort', onQueueAbort);
      this.active.delete(id);
    });
    this.active.set(id, { controller, settled });
    return settled;
  }
}

/** The store's filter for a query's: an empty status list means every status, as in `list`. */
function runFilter(query: RunQueryFilter): RunFilter {
  return {
    ...(query.status && query.status.length > 0 ? { status: new Set(query.status) } : {}),
    ...(query.groupId == null ? {} : { groupId: query.groupId }),
  };
}
