/**
 * Prometheus metrics from the services' events and stats, in a registry of the server's own
 * (never prom-client's global default). The listeners are the metrics' own: {@link BosunMetrics.dispose}
 * detaches them and unregisters the metrics.
 */
import { createRequire } from 'node:module';
import type { Registry } from 'prom-client';
import type { Plugin } from 'graphql-yoga';
import { isFinalStatus, type AgentRun } from '../runs/agent-run.js';
import type { BosunServices } from '../api/context.js';
import { deferPackages } from '../shared/deferred-packages.js';

const require = createRequire(import.meta.url);

/**
 * prom-client, loaded by the first {@link createMetrics}. It requires @opentelemetry/api as it
 * loads, for exemplars of its default process metrics, which bosun does not collect: that is
 * deferred until used (about 50 modules and 0.8 MB of idle RSS; src/shared/deferred-packages.ts).
 */
function loadPromClient(): typeof import('prom-client') {
  deferPackages([{ requiredBy: ['prom-client'], specifier: '@opentelemetry/api' }]);
  return require('prom-client') as typeof import('prom-client');
}

export const METRIC_NAMES = {
  queueRunning: 'bosun_queue_running',
  queueQueued: 'bosun_queue_queued',
  queueMaxConcurrency: 'bosun_queue_max_concurrency',
  runsFinished: 'bosun_runs_finished_total',
  queueWait: 'bosun_queue_wait_seconds',
  runDuration: 'bosun_run_duration_seconds',
  containerCpu: 'bosun_container_cpu_percent',
  containerMemory: 'bosun_container_memory_bytes',
  alerts: 'bosun_alerts_total',
} as const;

/** Finished runs remembered so that a run's later snapshots (container removed…) are not counted twice. */
const COUNTED_RUNS_MEMORY = 10_000;

export interface BosunMetrics {
  readonly registry: Registry;
  /** Detaches every listener and removes the metrics from the registry. */
  dispose(): void;
}

/**
 * Registers bosun's metrics on `registry` (default: a new one) and starts following the services.
 *
 * - queue gauges: collected from `queue.stats()` at each scrape;
 * - `bosun_runs_finished_total{status,reason}`: once per run, at its first final `run-updated`;
 * - `bosun_queue_wait_seconds{outcome}`: from the queue's `started` (outcome "started") and `left` events;
 * - `bosun_run_duration_seconds{status}`: startedAt → finishedAt of finished runs that started;
 * - `bosun_container_cpu_percent` / `bosun_container_memory_bytes{container_id,agent_id}`: the
 *   latest monitor sample per container, removed on `container-removed` and for containers a
 *   health check no longer lists;
 * - `bosun_alerts_total{level,metric}`: raised alerts (not their resolutions).
 */
export function createMetrics(services: BosunServices, registry?: Registry): BosunMetrics {
  const prom = loadPromClient();
  const { Counter, Gauge, Histogram } = prom;
  registry ??= new prom.Registry();
  const { runs, queue, monitor } = services;
  const registers = [registry];
  const detach: (() => void)[] = [];

  new Gauge({
    name: METRIC_NAMES.queueRunning,
    help: 'Runs running now.',
    registers,
    collect() {
      this.set(queue.stats().running);
    },
  });
  new Gauge({
    name: METRIC_NAMES.queueQueued,
    help: 'Runs waiting in line now.',
    registers,
    collect() {
      this.set(queue.stats().queued);
    },
  });
  new Gauge({
    name: METRIC_NAMES.queueMaxConcurrency,
    help: 'Runs allowed at once in the line (0 = unlimited); in a cluster, the cluster-wide limit.',
    registers,
    collect() {
      this.set(queue.stats().maxConcurrency);
    },
  });

  const runsFinished = new Counter({
    name: METRIC_NAMES.runsFinished,
    help: 'Runs that reached a final status, by status and failure reason ("none" when it succeeded).',
    labelNames: ['status', 'reason'] as const,
    registers,
  });
  const runDuration = new Histogram({
    name: METRIC_NAMES.runDuration,
    help: 'Time from a run starting to it finishing, by final status.',
    labelNames: ['status'] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600],
    registers,
  });
  const counted = new Set<string>();
  const onRunUpdated = (run: AgentRun): void => {
    if (!isFinalStatus(run.status) || counted.has(run.id)) return;
    counted.add(run.id);
    if (counted.size > COUNTED_RUNS_MEMORY) {
      const oldest = counted.values().next().value;
      if (oldest !== undefined) counted.delete(oldest);
    }
    runsFinished.inc({ status: run.status, reason: run.failureReason ?? 'none' });
    if (run.startedAt && run.finishedAt) {
      runDuration.observe({ status: run.status }, Math.max(0, run.finishedAt.getTime() - run.startedAt.getTime()) / 1000);
    }
  };
  runs.events.on('run-updated', onRunUpdated);
  detach.push(() => runs.events.off('run-updated', onRunUpdated));

  const queueWait = new Histogram({
    name: METRIC_NAMES.queueWait,
    help: 'Time runs waited in line, by how the wait ended (started, cancelled, timed-out, cleared).',
    labelNames: ['outcome'] as const,
    buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800],
    registers,
  });
  const onStarted = (event: { readonly waitedMs: number }): void => {
    queueWait.observe({ outcome: 'started' }, event.waitedMs / 1000);
  };
  const onLeft = (event: { readonly waitedMs: number; readonly reason: string }): void => {
    queueWait.observe({ outcome: event.reason }, event.waitedMs / 1000);
  };
  queue.events.on('started', onStarted);
  queue.events.on('left', onLeft);
  detach.push(
    () => queue.events.off('started', onStarted),
    () => queue.events.off('left', onLeft),
  );

  const labelNames = ['container_id', 'agent_id'] as const;
  /**
   * container id → its gauges' labels and latest figures. The gauges are set from it when
   * scraped, not at each sample: a sample then costs a map lookup instead of hashing two label
   * sets (which was most of the monitor's cost per sample).
   */
  const containers = new Map<string, { readonly labels: { container_id: string; agent_id: string }; cpuPercent: number; memoryBytes: number }>();
  new Gauge({
    name: METRIC_NAMES.containerCpu,
    help: 'CPU use of each running sandbox container, in percent of one CPU.',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const { labels, cpuPercent } of containers.values()) this.set(labels, cpuPercent);
    },
  });
  new Gauge({
    name: METRIC_NAMES.containerMemory,
    help: 'Memory use of each running sandbox container, in bytes.',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const { labels, memoryBytes } of containers.values()) this.set(labels, memoryBytes);
    },
  });
  const forget = (containerId: string): void => {
    containers.delete(containerId);
  };
  const onSample = (sample: { containerId: string; runId: string | null; cpuPercent: number; memoryUsageBytes: number }): void => {
    const known = containers.get(sample.containerId);
    if (known !== undefined && known.labels.agent_id === (sample.runId ?? '')) {
      known.cpuPercent = sample.cpuPercent;
      known.memoryBytes = sample.memoryUsageBytes;
      return;
    }
    containers.set(sample.containerId, {
      labels: { container_id: sample.containerId, agent_id: sample.runId ?? '' },
      cpuPercent: sample.cpuPercent,
      memoryBytes: sample.memoryUsageBytes,
    });
  };
  const onContainerRemoved = (event: { readonly containerId: string }): void => forget(event.containerId);
  const onHealthCheck = (report: { readonly containers: readonly { readonly containerId: string }[] }): void => {
    const present = new Set(report.containers.map((container) => container.containerId));
    for (const containerId of [...containers.keys()]) if (!present.has(containerId)) forget(containerId);
  };
  monitor.events.on('sample', onSample);
  runs.events.on('container-removed', onContainerRemoved);
  monitor.events.on('health-check', onHealthCheck);
  detach.push(
    () => monitor.events.off('sample', onSample),
    () => runs.events.off('container-removed', onContainerRemoved),
    () => monitor.events.off('health-check', onHealthCheck),
  );

  const alerts = new Counter({
    name: METRIC_NAMES.alerts,
    help: 'Health alerts raised, by level and metric.',
    labelNames: ['level', 'metric'] as const,
    registers,
  });
  const onAlert = (alert: { level: string; metric: string; resolvedAt: Date | null }): void => {
    if (alert.resolvedAt === null) alerts.inc({ level: alert.level, metric: alert.metric });
  };
  monitor.events.on('alert', onAlert);
  detach.push(() => monitor.events.off('alert', onAlert));

  let disposed = false;
  return {
    registry,
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const off of detach.splice(0)) off();
      for (const name of Object.values(METRIC_NAMES)) registry.removeSingleMetric(name);
    },
  };
}

/** A yoga plugin that answers `GET <path>` with the registry's metrics. */
export function useMetricsEndpoint(registry: Registry, path = '/metrics'): Plugin {
  return {
    onRequest(payload) {
      const { url, request, fetchAPI } = payload;
      if (url.pathname !== path) return;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        payload.endResponse(new fetchAPI.Response(null, { status: 405, headers: { allow: 'GET, HEAD' } }));
        return;
      }
      return registry.metrics().then((body) => {
        payload.endResponse(new fetchAPI.Response(body, { status: 200, headers: { 'content-type': registry.contentType } }));
      });
    },
  };
}
