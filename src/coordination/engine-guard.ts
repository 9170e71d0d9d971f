/**
 * Keeps the queue in step with the Docker engine: while the engine does not answer, the queue
 * is paused (waiting runs keep their place and their queue-timeout clock rather than failing
 * one after another); when it answers again, containers this instance left behind are reaped
 * and the queue resumes. Driven by the monitor's periodic health check, and run once at start.
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MonitorEvents } from '../monitor/monitor-service.js';
import type { HealthReport } from '../monitor/monitor-types.js';
import type { ExecutionQueue } from '../queue/execution-queue.js';
import type { SandboxManager } from '../sandbox/sandbox-manager.js';
import type { EventEmitter } from 'node:events';

export class EngineGuard implements Disposable {
  private reapPending = true;
  private pausedByGuard = false;
  /** Disposed (shutdown has begun): a check still under way changes nothing more. */
  private disposed = false;
  private checking: Promise<void> = Promise.resolve();
  private readonly onReport = (report: HealthReport) => {
    this.checking = this.checking.then(() => this.apply(report.docker.reachable, report.docker.error));
  };

  constructor(
    private readonly options: {
      readonly sandboxes: Pick<SandboxManager, 'engineInfo' | 'reapOrphans'>;
      readonly queue: Pick<ExecutionQueue, 'pause' | 'resume'>;
      readonly monitorEvents: EventEmitter<MonitorEvents>;
      readonly logger: Logger;
      /**
       * Called after each successful reap: at start, and when the engine answers again after an
       * outage. What was made ahead of time from the engine (the warm pool) is rebuilt here.
       */
      readonly afterReap?: () => void;
    },
  ) {
    options.monitorEvents.on('health-check', this.onReport);
  }

  /** Pauses the queue until a check finds the engine answering (and orphans reaped): used at start. */
  async hold(): Promise<void> {
    if (this.pausedByGuard) return;
    this.pausedByGuard = true;
    await this.options.queue.pause();
  }

  /**
   * A run lost the engine: hold the queue now rather than at the next health check, so waiting
   * runs are not started into the same fault one after another.
   */
  engineLost(reason: string): void {
    this.reapPending = true;
    if (this.pausedByGuard) return;
    // Called from a run that is ending: the run does not wait for the pause (the in-process queue
    // pauses inside the call, before the run's slot is released); a failure to pause is logged.
    this.hold().catch((error: unknown) => this.options.logger.warn({ err: error }, 'could not pause the queue after a run lost the Docker engine'));
    this.options.logger.warn({ reason }, 'a run lost the Docker engine: queue paused until a health check finds it answering');
  }

  /** Checks the engine now: reaps and lets the queue run if it answers, pauses the queue if not. */
  async checkNow(): Promise<boolean> {
    let reachable = true;
    let error: string | null = null;
    try {
      await this.options.sandboxes.engineInfo();
    } catch (e) {
      reachable = false;
      error = errorMessage(e);
    }
    await (this.checking = this.checking.then(() => this.apply(reachable, error)));
    return reachable;
  }

  private async apply(reachable: boolean, error: string | null): Promise<void> {
    const { queue, logger } = this.options;
    // Once shutdown has paused the queue, resuming it would start waiting runs into a stopping
    // bosun (killed there, instead of waiting for the next start).
    if (this.disposed) return;
    if (!reachable) {
      // Sandboxes that could not be removed while the engine was away are reaped when it is back.
      this.reapPending = true;
      if (!this.pausedByGuard) {
        try {
          await queue.pause();
        } catch (e) {
          // Never rejects into the chain of checks: the next check tries again.
          logger.warn({ err: e }, 'Docker engine unreachable, and the queue could not be paused; the next health check tries again');
          return;
        }
        this.pausedByGuard = true;
        logger.warn({ error }, 'Docker engine unreachable: queue paused, waiting runs keep their place');
      }
      return;
    }
    if (this.reapPending) {
      try {
        const reaped = await this.options.sandboxes.reapOrphans();
        this.reapPending = false;
        if (reaped.length > 0) logger.info({ containers: reaped.map((id) => id.slice(0, 12)) }, `reaped ${reaped.length} orphan container(s)`);
        this.options.afterReap?.();
      } catch (e) {
        logger.warn({ err: e }, 'could not reap orphan containers yet; will retry at the next health check');
        return;
      }
    }
    if (this.pausedByGuard && !this.disposed) {
      try {
        await queue.resume();
      } catch (e) {
        logger.warn({ err: e }, 'Docker engine answers again, but the queue could not be resumed; the next health check tries again');
        return;
      }
      this.pausedByGuard = false;
      logger.info({}, 'Docker engine answers again: queue resumed');
    }
  }

  /** Stops following health checks; a check under way resumes nothing. Call before shutdown pauses the queue. */
  [Symbol.dispose](): void {
    this.disposed = true;
    this.options.monitorEvents.off('health-check', this.onReport);
  }
}
