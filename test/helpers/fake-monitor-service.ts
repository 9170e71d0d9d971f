/**
 * An in-memory MonitorService: tests publish samples and alerts, set the report and advice, and
 * make a method throw once with {@link FakeMonitorService.failNext}.
 */
import { EventEmitter } from 'node:events';
import type { MonitorEvents, MonitorService, SampleQuery } from '../../src/monitor/monitor-service.js';
import type { ConcurrencyAdvice, ContainerHealth, HealthAlert, HealthReport, ResourcePeak, ResourceSample } from '../../src/monitor/monitor-types.js';
import { settle } from './fake-async.js';
import { makeReport } from './fixtures.js';

type Method = 'generateReport' | 'concurrencyAdvice' | 'samples';

export class FakeMonitorService implements MonitorService {
  readonly events = new EventEmitter<MonitorEvents>();
  report: HealthReport = makeReport();
  advice: ConcurrencyAdvice = { current: 1, recommended: 2, canIncrease: true, reason: 'The host has room for one more run.' };
  readonly #samples: ResourceSample[] = [];
  readonly #alerts: HealthAlert[] = [];
  readonly #failures = new Map<Method, unknown>();

  failNext(method: Method, error: unknown): void {
    this.#failures.set(method, error);
  }

  generateReport(): Promise<HealthReport> {
    return settle(() => {
      this.#maybeFail('generateReport');
      return this.report;
    });
  }

  checkContainerHealth(containerId: string): ContainerHealth | undefined {
    return this.report.containers.find((container) => container.containerId === containerId);
  }

  samples(query: SampleQuery): Promise<readonly ResourceSample[]> {
    return settle(() => this.#samplesNow(query));
  }

  #samplesNow(query: SampleQuery): readonly ResourceSample[] {
    this.#maybeFail('samples');
    const selected = this.#samples.filter(
      (sample) => (query.runId == null || sample.runId === query.runId) && (query.containerId == null || sample.containerId === query.containerId),
    );
    return query.last == null ? selected : selected.slice(Math.max(0, selected.length - query.last));
  }

  alertsForAgent(runId: string): Promise<readonly HealthAlert[]> {
    return settle(() => this.#alerts.filter((alert) => alert.runId === runId));
  }

  peakForAgent(runId: string): Promise<ResourcePeak | undefined> {
    return settle(() => this.#peak(runId));
  }

  #peak(runId: string): ResourcePeak | undefined {
    const samples = this.#samples.filter((sample) => sample.runId === runId);
    if (samples.length === 0) return undefined;
    return {
      cpuPercent: Math.max(...samples.map((sample) => sample.cpuPercent)),
      memoryBytes: Math.max(...samples.map((sample) => sample.memoryUsageBytes)),
      pids: Math.max(...samples.map((sample) => sample.pids)),
    };
  }

  concurrencyAdvice(): Promise<ConcurrencyAdvice> {
    return settle(() => {
      this.#maybeFail('concurrencyAdvice');
      return this.advice;
    });
  }

  // Test drivers.

  publishSample(sample: ResourceSample): void {
    this.#samples.push(sample);
    this.events.emit('sample', sample);
  }

  publishAlert(alert: HealthAlert): void {
    this.#alerts.push(alert);
    this.events.emit('alert', alert);
  }

  publishHealthCheck(report: HealthReport): void {
    this.report = report;
    this.events.emit('health-check', report);
  }

  listenerTotal(): number {
    return this.events.eventNames().reduce((sum, name) => sum + this.events.listenerCount(name), 0);
  }

  #maybeFail(method: Method): void {
    if (!this.#failures.has(method)) return;
    const error = this.#failures.get(method);
    this.#failures.delete(method);
    throw error;
  }
}
