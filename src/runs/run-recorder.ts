/**
 * The one writer of a run's record: each change becomes a new immutable snapshot in the store
 * and a `run-updated` event, and each log line is stored and emitted as it is recorded. Shared
 * by the run service (admission) and the run executor (execution), so that both tell the store
 * and the subscribers the same story in the same order.
 *
 * The recorder keeps the current snapshot of each live run (recorded here and not yet final) in
 * memory: every change of a running run reads its current snapshot, and the store may be remote
 * (asynchronous), so the hot path reads memory and the store is only written (write-behind). A
 * run leaves memory with its final status; from then on it is read from the store.
 */
import type { EventEmitter } from 'node:events';
import { BosunError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AgentRun, AgentStatus, FailureReason, LogStream } from './agent-run.js';
import { isFinalStatus } from './agent-run.js';
import type { RunServiceEvents } from './run-service.js';
import type { RunStore } from './run-store.js';

export class RunRecorder {
  /** The current snapshot of each run this recorder records and that is not final yet. */
  private readonly live = new Map<string, AgentRun>();

  constructor(
    private readonly store: RunStore,
    readonly events: EventEmitter<RunServiceEvents>,
    private readonly logger: Pick<Logger, 'info'>,
  ) {}

  /** The current snapshot of a live run (recorded here, not final); undefined for any other run. */
  current(id: string): AgentRun | undefined {
    return this.live.get(id);
  }

  /** Any run: a live one from memory, else from the store. */
  get(id: string): Promise<AgentRun | undefined> {
    const live = this.live.get(id);
    return live ? Promise.resolve(live) : this.store.get(id);
  }

  /** {@link get}, for a run that must exist. @throws BosunError NOT_FOUND */
  async load(id: string): Promise<AgentRun> {
    const run = await this.get(id);
    if (!run) throw notFound(id);
    return run;
  }

  /**
   * The current snapshot of a live run: what the executor and the admission read while they
   * record it.
   * @throws BosunError NOT_FOUND when the run is not live here (unknown, final, or recorded elsewhere).
   */
  require(id: string): AgentRun {
    const run = this.live.get(id);
    if (!run) throw notFound(id);
    return run;
  }

  /**
   * Takes a stored run that is not final into memory, to record its changes here (a run recovered
   * at start, or started on this node after another recorded it). A run already live keeps its
   * newer snapshot. Returns the current snapshot.
   */
  track(run: AgentRun): AgentRun {
    const live = this.live.get(run.id);
    if (live) return live;
    if (!isFinalStatus(run.status)) this.live.set(run.id, run);
    return run;
  }

  /**
   * Stops recording a live run here without changing it: another node took it (cluster mode), and
   * from now on that node records it; reads here go to the shared store.
   */
  release(id: string): void {
    this.live.delete(id);
  }

  /** Records a new run; resolves once the store holds it. @throws what the store's insert throws (nothing is kept). */
  async insert(run: AgentRun): Promise<void> {
    await this.store.insert(run);
    if (!isFinalStatus(run.status)) this.live.set(run.id, run);
    this.events.emit('run-updated', run);
  }

  /** A line in the run's log. */
  log(id: string, stream: LogStream, step: number | null, line: string): void {
    const entry = this.store.appendLog(id, stream, step, line);
    this.events.emit('log', entry);
  }

  /** A new snapshot of a live run. @throws BosunError NOT_FOUND when it is not live here. */
  patch(id: string, changes: Partial<Omit<AgentRun, 'id'>>): AgentRun {
    const next = Object.freeze({ ...this.require(id), ...changes });
    this.store.update(next);
    if (isFinalStatus(next.status)) this.live.delete(id);
    else this.live.set(id, next);
    this.events.emit('run-updated', next);
    return next;
  }

  /**
   * Announces a live run's snapshot again, storing nothing: for what subscribers read live beside
   * it (an external run's idleness), which changed without the snapshot changing.
   */
  announce(id: string): void {
    const run = this.live.get(id);
    // A new object: subscriptions share one execution per event object (the server's
    // shared-subscription-execution.ts), so the same snapshot emitted again would be answered
    // with the result made for it the first time, before what changed beside it.
    if (run) this.events.emit('run-updated', { ...run });
  }

  /** Gives a live run its final status; a run that is not live (already final) keeps its own. */
  finish(id: string, status: AgentStatus, reason: FailureReason | null, error: string | null, exitCode?: number | null): void {
    if (!this.live.has(id)) return;
    this.patch(id, {
      status,
      failureReason: reason,
      error,
      finishedAt: new Date(),
      ...(exitCode === undefined ? {} : { exitCode }),
    });
    this.logger.info({ runId: id, status, reason }, `run ${status.toLowerCase()}`);
  }
}

function notFound(id: string): BosunError {
  return new BosunError('NOT_FOUND', `no run with id ${JSON.stringify(id)}`);
}
