/**
 * The one writer of a run's record: each change becomes a new immutable snapshot in the store
 * and a `run-updated` event, and each log line is stored and emitted as it is recorded. Shared
 * by the run service (admission) and the run executor (execution), so that both tell the store
 * and the subscribers the same story in the same order.
 */
import type { EventEmitter } from 'node:events';
import { BosunError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AgentRun, AgentStatus, FailureReason, LogStream } from './agent-run.js';
import { isFinalStatus } from './agent-run.js';
import type { RunServiceEvents } from './run-service.js';
import type { RunStore } from './run-store.js';

export class RunRecorder {
  constructor(
    private readonly store: RunStore,
    readonly events: EventEmitter<RunServiceEvents>,
    private readonly logger: Pick<Logger, 'info'>,
  ) {}

  get(id: string): AgentRun | undefined {
    return this.store.get(id);
  }

  /** @throws BosunError NOT_FOUND */
  require(id: string): AgentRun {
    const run = this.store.get(id);
    if (!run) throw new BosunError('NOT_FOUND', `no run with id ${JSON.stringify(id)}`);
    return run;
  }

  /** Records a new run. */
  insert(run: AgentRun): void {
    this.store.insert(run);
    this.events.emit('run-updated', run);
  }

  /** A line in the run's log. */
  log(id: string, stream: LogStream, step: number | null, line: string): void {
    const entry = this.store.appendLog(id, stream, step, line);
    this.events.emit('log', entry);
  }

  patch(id: string, changes: Partial<Omit<AgentRun, 'id'>>): AgentRun {
    const next = Object.freeze({ ...this.require(id), ...changes });
    this.store.update(next);
    this.events.emit('run-updated', next);
    return next;
  }

  /**
   * Announces the run's snapshot again, storing nothing: for what subscribers read live beside it
   * (an external run's idleness), which changed without the snapshot changing.
   */
  announce(id: string): void {
    const run = this.store.get(id);
    // A new object: subscriptions share one execution per event object (the server's
    // shared-subscription-execution.ts), so the same snapshot emitted again would be answered
    // with the result made for it the first time, before what changed beside it.
    if (run) this.events.emit('run-updated', { ...run });
  }

  /** Gives the run its final status; a run that already has one keeps it. */
  finish(id: string, status: AgentStatus, reason: FailureReason | null, error: string | null, exitCode?: number | null): void {
    const run = this.require(id);
    if (isFinalStatus(run.status)) return;
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
