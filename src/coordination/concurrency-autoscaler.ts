/**
 * Autoscaling (CONCURRENCY_AUTOSCALE): at each health check, moves this node's concurrency limit
 * one step toward the monitor's advice (embedded: the queue's limit; in a cluster: this node's own
 * cap, never the cluster-wide limit, since the advice is about this node's host and containers), never above `max`, and never touches an unlimited queue
 * (limit 0: someone chose no limit, and autoscaling does not impose one).
 *
 * The monitor only observes and advises; this coordinator is what acts on the advice. It is
 * built by the composition root when autoscaling is on, and announces each change as a
 * `concurrency-adjusted` event on the monitoring event bus, where every monitoring event is
 * found.
 */
import type { EventEmitter } from 'node:events';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { MAX_RECOMMENDED_CONCURRENCY } from '../monitor/concurrency-advice.js';
import type { MonitorEvents } from '../monitor/monitor-service.js';
import type { ConcurrencyAdvice, HealthReport } from '../monitor/monitor-types.js';
import type { ExecutionQueue } from '../queue/execution-queue.js';
import { checkInteger } from '../shared/validate.js';

export interface ConcurrencyAutoscalerOptions {
  /** The monitor's events: `health-check` drives it; `concurrency-adjusted` is published here. */
  readonly monitorEvents: EventEmitter<MonitorEvents>;
  /** The advice for a health check's report (see DockerMonitor.adviseFrom). */
  readonly advise: (report: HealthReport) => Promise<ConcurrencyAdvice>;
  /** What it moves: the app gives this node's own limit (`AppBackends.nodeQueue`), the same as the advice's `current`. */
  readonly queue: Pick<ExecutionQueue, 'setMaxConcurrency'>;
  /** The highest limit autoscaling sets: 1 to {@link MAX_RECOMMENDED_CONCURRENCY}. */
  readonly max: number;
  readonly logger: Pick<Logger, 'info' | 'warn'>;
}

export class ConcurrencyAutoscaler implements Disposable {
  private readonly max: number;
  /** The step under way: steps run one after another, each from the limit the previous one set. Never rejects. */
  private stepping: Promise<void> = Promise.resolve();
  private readonly onReport = (report: HealthReport): void => {
    this.stepping = this.stepping.then(() => this.step(report));
  };

  /** @throws InvalidValueError for a `max` that is not an integer from 1 to 4. */
  constructor(private readonly options: ConcurrencyAutoscalerOptions) {
    this.max = checkInteger('concurrencyAutoscaleMax', options.max, { min: 1, max: MAX_RECOMMENDED_CONCURRENCY });
    options.monitorEvents.on('health-check', this.onReport);
  }

  /** Stops following health checks. */
  [Symbol.dispose](): void {
    this.options.monitorEvents.off('health-check', this.onReport);
  }

  /** Resolves once the steps of the health checks seen so far are done. */
  settled(): Promise<void> {
    return this.stepping;
  }

  private async step(report: HealthReport): Promise<void> {
    const { queue, logger, monitorEvents } = this.options;
    let advice: ConcurrencyAdvice;
    try {
      advice = await this.options.advise(report);
    } catch (error) {
      logger.warn({ error: errorMessage(error) }, 'autoscaling skipped: no concurrency advice');
      return;
    }
    if (advice.current === 0) return;
    const target = Math.min(advice.recommended, this.max);
    if (target === advice.current) return;
    const to = advice.current + Math.sign(target - advice.current);
    try {
      await queue.setMaxConcurrency(to);
    } catch (error) {
      logger.warn({ error: errorMessage(error), from: advice.current, to }, 'autoscaling could not change the concurrency limit');
      return;
    }
    const event = { from: advice.current, to, reason: advice.reason };
    logger.info({ ...event, target }, `concurrency ${event.from} → ${event.to}`);
    try {
      monitorEvents.emit('concurrency-adjusted', event);
    } catch (error) {
      logger.warn({ event: 'concurrency-adjusted', error: errorMessage(error) }, 'monitor event listener threw');
    }
  }
}
