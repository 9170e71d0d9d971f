/**
 * The monitor in the API: resource samples and peaks, health alerts, the health report (the
 * Docker engine, the overall figures, each container's health and the thresholds in force), the
 * concurrency advice, and the fields that read and follow them. The streams behind the
 * subscriptions are in monitor-streams.ts.
 */
import type { HealthLevel, MonitorSource, ResourceMetric } from '../monitor/monitor-types.js';
import type { StoreHealthReport, StoreStatus } from '../store/store-health.js';
import { optionalId } from './arguments.js';
import type { BosunBuilder } from './builder.js';
import { healthAlerts, resourceSamples } from './monitor-streams.js';
import { unwrapStreamItem } from './streams/event-channel.js';

const HEALTH_LEVELS = ['HEALTHY', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const satisfies readonly HealthLevel[];
const RESOURCE_METRICS = ['CPU', 'MEMORY', 'PIDS'] as const satisfies readonly ResourceMetric[];
const MONITOR_SOURCES = {
  CGROUP_FILES: {
    description:
      "The container's cgroup files, read directly once per RESOURCE_SAMPLE_INTERVAL_MS: bosun reaches the engine through a local unix socket " +
      'and can read the cgroup hierarchy of its host (far cheaper than a stats stream).',
  },
  ENGINE_STATS: {
    description:
      "The engine's live stats stream, one per container: the engine is remote (DOCKER_HOST=tcp://…), or the container's cgroup files " +
      'cannot be read from where bosun runs (an engine in a VM, bosun in a container of its own).',
  },
} as const satisfies Record<MonitorSource, { readonly description: string }>;
const STORE_STATUSES = {
  OK: { description: 'Every write succeeds.' },
  DEGRADED: {
    description:
      'A write failed and failed again when retried (a full disk, an I/O error): what was not written waits in memory and is retried; ' +
      'startAgent and retryAgent answer UNAVAILABLE; running runs go on. The store is OK again by itself once the retries succeed.',
  },
} as const satisfies Record<StoreStatus, { readonly description: string }>;

/** Registers the monitor types and fields on `builder`. */
export function addMonitor(builder: BosunBuilder): void {
  const HealthLevel = builder.enumType('HealthLevel', { values: HEALTH_LEVELS });
  const ResourceMetric = builder.enumType('ResourceMetric', { values: RESOURCE_METRICS });
  const MonitorSourceEnum = builder.enumType('MonitorSource', {
    description: "Where the monitor reads containers' CPU, memory and pids figures from (computed as `docker stats` computes them either way).",
    values: MONITOR_SOURCES,
  });

  builder.objectType('ResourceSample', {
    fields: (t) => ({
      containerId: t.exposeID('containerId'),
      agentId: t.exposeID('runId', { nullable: true, description: 'Null for containers bosun did not start.' }),
      at: t.expose('at', { type: 'DateTime' }),
      cpuPercent: t.exposeFloat('cpuPercent', { description: '100 = one full CPU.' }),
      memoryUsageBytes: t.exposeFloat('memoryUsageBytes'),
      memoryLimitBytes: t.exposeFloat('memoryLimitBytes'),
      memoryPercent: t.exposeFloat('memoryPercent'),
      pids: t.exposeInt('pids'),
      pidsLimit: t.exposeInt('pidsLimit', { nullable: true }),
    }),
  });

  builder.objectType('ResourcePeak', {
    fields: (t) => ({
      cpuPercent: t.exposeFloat('cpuPercent'),
      memoryBytes: t.exposeFloat('memoryBytes'),
      pids: t.exposeInt('pids'),
    }),
  });

  // A metric stayed at or above a threshold; published again with `resolvedAt` when it recovers.
  builder.objectType('HealthAlert', {
    fields: (t) => ({
      id: t.exposeID('id'),
      level: t.expose('level', { type: HealthLevel }),
      metric: t.expose('metric', { type: ResourceMetric }),
      value: t.exposeFloat('value'),
      threshold: t.exposeFloat('threshold'),
      containerId: t.exposeID('containerId'),
      agentId: t.exposeID('runId', { nullable: true }),
      at: t.expose('at', { type: 'DateTime' }),
      message: t.exposeString('message'),
      resolvedAt: t.expose('resolvedAt', { type: 'DateTime', nullable: true }),
    }),
  });

  builder.objectType('ContainerHealth', {
    fields: (t) => ({
      containerId: t.exposeID('containerId'),
      name: t.exposeString('name'),
      agentId: t.exposeID('runId', { nullable: true }),
      level: t.expose('level', { type: HealthLevel }),
      monitorSource: t.expose('monitorSource', { type: MonitorSourceEnum, description: "What reads this container's figures." }),
      latest: t.expose('latest', { type: 'ResourceSample', nullable: true }),
      alerts: t.expose('alerts', { type: ['HealthAlert'], description: 'Unresolved alerts.' }),
      checkedAt: t.expose('checkedAt', { type: 'DateTime', nullable: true }),
    }),
  });

  builder.objectType('HealthOverall', {
    fields: (t) => ({
      totalContainers: t.exposeInt('totalContainers'),
      healthyContainers: t.exposeInt('healthyContainers'),
      warningContainers: t.exposeInt('warningContainers'),
      criticalContainers: t.exposeInt('criticalContainers'),
      unhealthyContainers: t.exposeInt('unhealthyContainers', { description: 'warning + critical.' }),
      avgCpuPercent: t.exposeFloat('avgCpuPercent'),
      avgMemoryPercent: t.exposeFloat('avgMemoryPercent'),
    }),
  });

  builder.objectType('DockerEngineHealth', {
    fields: (t) => ({
      reachable: t.exposeBoolean('reachable'),
      version: t.exposeString('version', { nullable: true }),
      error: t.exposeString('error', { nullable: true }),
    }),
  });

  builder.objectType('ResourceThresholds', {
    fields: (t) => ({
      cpuPercentWarning: t.exposeFloat('cpuPercentWarning'),
      cpuPercentCritical: t.exposeFloat('cpuPercentCritical'),
      memoryPercentWarning: t.exposeFloat('memoryPercentWarning'),
      memoryPercentCritical: t.exposeFloat('memoryPercentCritical'),
      pidsWarning: t.exposeInt('pidsWarning'),
      pidsCritical: t.exposeInt('pidsCritical'),
      pidsPercentWarning: t.exposeFloat('pidsPercentWarning', {
        description:
          "PIDs as a % of the container's pids limit (PIDS_WARNING_PERCENT). The counts pidsWarning / pidsCritical " +
          'grade too when PIDS_WARNING or PIDS_CRITICAL is set (the worse grade counts), and alone for a container without a known pids limit.',
      }),
      pidsPercentCritical: t.exposeFloat('pidsPercentCritical', {
        description: "PIDs as a % of the container's pids limit (PIDS_CRITICAL_PERCENT); see pidsPercentWarning.",
      }),
    }),
  });

  const StoreStatusEnum = builder.enumType('StoreStatus', {
    description: "Whether bosun's database takes writes.",
    values: STORE_STATUSES,
  });

  const StoreHealth = builder.objectRef<StoreHealthReport>('StoreHealth').implement({
    description: "The health of bosun's store (the SQLite database that keeps runs, logs and history).",
    fields: (t) => ({
      status: t.expose('status', { type: StoreStatusEnum }),
      error: t.exposeString('error', { nullable: true, description: 'While DEGRADED: what could not be written, and why.' }),
      since: t.expose('since', { type: 'DateTime', nullable: true, description: 'While DEGRADED: since when.' }),
    }),
  });

  builder.objectType('HealthReport', {
    fields: (t) => ({
      generatedAt: t.expose('generatedAt', { type: 'DateTime' }),
      docker: t.expose('docker', { type: 'DockerEngineHealth' }),
      monitorSource: t.expose('monitorSource', {
        type: MonitorSourceEnum,
        description:
          "How the monitor reads containers' figures: CGROUP_FILES when bosun shares the engine's host (a container whose files it cannot " +
          'find still gets ENGINE_STATS; see ContainerHealth.monitorSource), otherwise ENGINE_STATS.',
      }),
      store: t.field({
        type: StoreHealth,
        description: 'Whether the store takes writes: while it does not, no new run is admitted (UNAVAILABLE).',
        resolve: (_report, _args, ctx) => ctx.services.store.report(),
      }),
      overall: t.expose('overall', { type: 'HealthOverall' }),
      containers: t.expose('containers', { type: ['ContainerHealth'] }),
      thresholds: t.expose('thresholds', { type: 'ResourceThresholds' }),
    }),
  });

  // How many runs the host can take at once, and why.
  builder.objectType('ConcurrencyAdvice', {
    fields: (t) => ({
      current: t.exposeInt('current'),
      recommended: t.exposeInt('recommended'),
      canIncrease: t.exposeBoolean('canIncrease'),
      reason: t.exposeString('reason'),
    }),
  });

  builder.queryFields((t) => ({
    healthReport: t.field({
      type: 'HealthReport',
      resolve: (_root, _args, ctx) => ctx.services.monitor.generateReport(),
    }),
    concurrencyAdvice: t.field({
      type: 'ConcurrencyAdvice',
      resolve: (_root, _args, ctx) => ctx.services.monitor.concurrencyAdvice(),
    }),
  }));

  builder.subscriptionFields((t) => ({
    resourceSamples: t.field({
      type: 'ResourceSample',
      description: 'Published samples, of one run and/or one container if given.',
      args: { agentId: t.arg.id(), containerId: t.arg.id() },
      subscribe: (_root, args, ctx) =>
        resourceSamples(ctx.services, ctx.streams, {
          agentId: optionalId('agentId', args.agentId),
          containerId: optionalId('containerId', args.containerId),
        }),
      resolve: unwrapStreamItem,
    }),
    healthAlerts: t.field({
      type: 'HealthAlert',
      description: 'Alerts at or above `minLevel` (default WARNING; CRITICAL > WARNING), raised and resolved.',
      args: { minLevel: t.arg({ type: HealthLevel }) },
      subscribe: (_root, args, ctx) => healthAlerts(ctx.services, ctx.streams, args.minLevel),
      resolve: unwrapStreamItem,
    }),
  }));
}
