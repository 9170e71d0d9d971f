/**
 * The monitor as the API sees it once history is durable: live parts (events, reports, advice)
 * come from the {@link DockerMonitor}; every sample and alert it publishes is recorded, and a
 * run's samples, alerts and peak are read back from the store, so they survive restarts.
 */
import type { DockerMonitor } from '../monitor/docker-monitor.js';
import type { MonitorService, SampleQuery } from '../monitor/monitor-service.js';
import type { HealthAlert, ResourceSample } from '../monitor/monitor-types.js';
import type { SqliteHistoryStore } from './sqlite-history-store.js';

export class RecordedMonitorService implements MonitorService, Disposable {
  readonly events: MonitorService['events'];
  private readonly onSample = (sample: ResourceSample) => this.history.recordSample(sample);
  private readonly onAlert = (alert: HealthAlert) => this.history.recordAlert(alert);

  constructor(
    private readonly monitor: DockerMonitor,
    private readonly history: SqliteHistoryStore,
  ) {
    this.events = monitor.events;
    monitor.events.on('sample', this.onSample);
    monitor.events.on('alert', this.onAlert);
  }

  generateReport(): ReturnType<MonitorService['generateReport']> {
    return this.monitor.generateReport();
  }

  checkContainerHealth(containerId: string): ReturnType<MonitorService['checkContainerHealth']> {
    return this.monitor.checkContainerHealth(containerId);
  }

  concurrencyAdvice(): ReturnType<MonitorService['concurrencyAdvice']> {
    return this.monitor.concurrencyAdvice();
  }

  samples(query: SampleQuery): readonly ResourceSample[] {
    return this.history.samples(query);
  }

  alertsForAgent(agentId: string): readonly HealthAlert[] {
    return this.history.alerts(agentId);
  }

  peakForAgent(agentId: string): ReturnType<MonitorService['peakForAgent']> {
    return this.history.peak(agentId);
  }

  /** Stops recording (the monitor itself is closed by its owner). */
  [Symbol.dispose](): void {
    this.monitor.events.off('sample', this.onSample);
    this.monitor.events.off('alert', this.onAlert);
    this.history.flush();
  }
}
