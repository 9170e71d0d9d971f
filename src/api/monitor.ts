/**
 * The monitor in the API: resource samples and peaks, health alerts, the health report (the
 * Docker engine, the overall figures, each container's health and the thresholds in force), the
 * concurrency advice, and the fields that read and follow them. The streams behind the
 * subscriptions are in monitor-streams.ts.
 */
import type { HealthLevel, MonitorSource, ResourceMetric } from '../monitor/monitor-types.js';
import type { WarmPoolStatus } from '../sandbox/warm-pool.js';
import type { StoreHealthReport, StoreStatus } from '../store/store-health.js';
import { optionalId } from './arguments.js';
import type { BosunBuilder } from './builder.js';
import { healthAlerts, resourceSamples } from './monitor-streams.js';
import { unwrapStreamItem } from './streams/event-channel.js';

const HEALTH_LEVELS = {
  HEALTHY: { description: 'Every metric below its warning threshold.' },
  WARNING: { description: 'A metric at or above its warning threshold.' },
  CRITICAL: { description: 'A metric at or above its critical threshold.' },
  UNKNOWN: {
    description:
      'No current sample: none yet, or its figures cannot be read now (its stats stream broke, its cgroup files are gone; the last sample is stale).',
  },
} as const satisfies Record<HealthLevel, { readonly description: string }>;
const RESOURCE_METRICS = {
  CPU: { description: "CPU use, as a % of the container's CPU limit." },
  MEMORY: { description: "Memory use without page cache, as a % of the container's memory limit." },
  PIDS: { description: "Processes and threads, as a % of the container's pids limit (or a count: see ResourceThresholds)." },
} as const satisfies Record<ResourceMetric, { readonly description: string }>;
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
  const HealthLevel = builder.enumType('HealthLevel', {
    description: 'How a container stands against the thresholds: the worst of its metrics.',
    values: HEALTH_LEVELS,
  });
  const ResourceMetric = builder.enumType('ResourceMetric', { description: 'What a health alert measures.', values: RESOURCE_METRICS });
  const MonitorSourceEnum = builder.enumType('MonitorSource', {
    description: "Where the monitor reads containers' CPU, memory and pids figures from (computed as `docker stats` computes them either way).",
    values: MONITOR_SOURCES,
  });

  builder.objectType('ResourceSample', {
    description: "A container's resource use at one moment (at most one every RESOURCE_SAMPLE_INTERVAL_MS per container).",
    fields: (t) => ({
      containerId: t.exposeID('containerId', { description: 'The container sampled.' }),
      agentId: t.exposeID('runId', { nullable: true, description: 'Its run; null for containers bosun did not start.' }),
      at: t.expose('at', { type: 'DateTime', description: 'When the engine read the figures.' }),
      cpuPercent: t.exposeFloat('cpuPercent', { description: 'CPU use as `docker stats` shows it: 100 = one full CPU.' }),
      memoryUsageBytes: t.exposeFloat('memoryUsageBytes', { description: 'Memory in use without page cache, in bytes.' }),
      memoryLimitBytes: t.exposeFloat('memoryLimitBytes', { description: "The container's memory limit, in bytes." }),
      memoryPercent: t.exposeFloat('memoryPercent', { description: 'memoryUsageBytes as a % of memoryLimitBytes.' }),
      pids: t.exposeInt('pids', { description: 'Processes and threads in the container.' }),
      pidsLimit: t.exposeInt('pidsLimit', { nullable: true, description: "The container's pids limit; null when the engine does not say." }),
    }),
  });

  builder.objectType('ResourcePeak', {
    description: "The highest figures a run's container reached, each at its own moment.",
    fields: (t) => ({
      cpuPercent: t.exposeFloat('cpuPercent', { description: 'The highest CPU use (100 = one full CPU).' }),
      memoryBytes: t.exposeFloat('memoryBytes', { description: 'The most memory in use without page cache, in bytes.' }),
      pids: t.exposeInt('pids', { description: 'The most processes and threads at once.' }),
    }),
  });

  builder.objectType('HealthAlert', {
    description:
      'A metric of a container stayed at or above a threshold for ALERT_CONSECUTIVE_SAMPLES samples. One per episode (and a new one ' +
      'from WARNING to CRITICAL); the same alert is published again with `resolvedAt` once the metric stays below the warning level as long.',
    fields: (t) => ({
      id: t.exposeID('id', { description: "The alert's id; the same on its resolution." }),
      level: t.expose('level', { type: HealthLevel, description: 'WARNING or CRITICAL.' }),
      metric: t.expose('metric', { type: ResourceMetric, description: 'What crossed its threshold.' }),
      value: t.exposeFloat('value', {
        description:
          "The graded figure: for CPU, a % of the container's CPU limit when known (else 100 = one CPU); for PIDS, a % of its pids " +
          'limit, or the process count when the count thresholds raised it; `message` says which.',
      }),
      threshold: t.exposeFloat('threshold', { description: 'The threshold it reached, in the same unit as `value`.' }),
      containerId: t.exposeID('containerId', { description: 'The container.' }),
      agentId: t.exposeID('runId', { nullable: true, description: "The container's run; null for containers bosun did not start." }),
      at: t.expose('at', { type: 'DateTime', description: 'When it was raised.' }),
      message: t.exposeString('message', { description: 'What happened, for people.' }),
      resolvedAt: t.expose('resolvedAt', { type: 'DateTime', nullable: true, description: 'When it recovered; null while it lasts.' }),
    }),
  });

  builder.objectType('ContainerHealth', {
    description: 'One monitored container in the health report.',
    fields: (t) => ({
      containerId: t.exposeID('containerId', { description: 'The container.' }),
      name: t.exposeString('name', { description: "Its name (or its id's first 12 characters)." }),
      agentId: t.exposeID('runId', { nullable: true, description: 'Its run; null for containers bosun did not start.' }),
      level: t.expose('level', { type: HealthLevel, description: 'Its latest sample graded against the thresholds.' }),
      monitorSource: t.expose('monitorSource', { type: MonitorSourceEnum, description: "What reads this container's figures." }),
      latest: t.expose('latest', { type: 'ResourceSample', nullable: true, description: 'Its latest sample; null before the first.' }),
      alerts: t.expose('alerts', { type: ['HealthAlert'], description: 'Unresolved alerts.' }),
      checkedAt: t.expose('checkedAt', { type: 'DateTime', nullable: true, description: 'When it was last sampled; null before the first sample.' }),
    }),
  });

  builder.objectType('HealthOverall', {
    description: 'The monitored containers counted by level, and their averages.',
    fields: (t) => ({
      totalContainers: t.exposeInt('totalContainers', { description: 'Monitored containers (UNKNOWN ones included).' }),
      healthyContainers: t.exposeInt('healthyContainers', { description: 'Containers at HEALTHY.' }),
      warningContainers: t.exposeInt('warningContainers', { description: 'Containers at WARNING.' }),
      criticalContainers: t.exposeInt('criticalContainers', { description: 'Containers at CRITICAL.' }),
      unhealthyContainers: t.exposeInt('unhealthyContainers', { description: 'warning + critical.' }),
      avgCpuPercent: t.exposeFloat('avgCpuPercent', {
        description: 'The average cpuPercent of the containers with a current sample; 0 without any.',
      }),
      avgMemoryPercent: t.exposeFloat('avgMemoryPercent', {
        description: 'The average memoryPercent of the containers with a current sample; 0 without any.',
      }),
    }),
  });

  builder.objectType('DockerEngineHealth', {
    description: 'Whether the Docker engine answers.',
    fields: (t) => ({
      reachable: t.exposeBoolean('reachable', { description: 'It answered the last check.' }),
      version: t.exposeString('version', { nullable: true, description: "The engine's version; null when it did not answer." }),
      error: t.exposeString('error', { nullable: true, description: 'Why it did not answer; null when it did.' }),
    }),
  });

  builder.objectType('ResourceThresholds', {
    description: 'The thresholds containers are graded against (their settings of the same names).',
    fields: (t) => ({
      cpuPercentWarning: t.exposeFloat('cpuPercentWarning', { description: "CPU as a % of the container's CPU limit (CPU_PERCENT_WARNING)." }),
      cpuPercentCritical: t.exposeFloat('cpuPercentCritical', { description: "CPU as a % of the container's CPU limit (CPU_PERCENT_CRITICAL)." }),
      memoryPercentWarning: t.exposeFloat('memoryPercentWarning', {
        description: "Memory as a % of the container's limit (MEMORY_PERCENT_WARNING).",
      }),
      memoryPercentCritical: t.exposeFloat('memoryPercentCritical', {
        description: "Memory as a % of the container's limit (MEMORY_PERCENT_CRITICAL).",
      }),
      pidsWarning: t.exposeInt('pidsWarning', { description: 'A process count (PIDS_WARNING); see pidsPercentWarning for when it grades.' }),
      pidsCritical: t.exposeInt('pidsCritical', { description: 'A process count (PIDS_CRITICAL); see pidsPercentWarning for when it grades.' }),
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
      status: t.expose('status', { type: StoreStatusEnum, description: 'Whether every write succeeds.' }),
      error: t.exposeString('error', { nullable: true, description: 'While DEGRADED: what could not be written, and why.' }),
      since: t.expose('since', { type: 'DateTime', nullable: true, description: 'While DEGRADED: since when.' }),
    }),
  });

  const WarmPoolStatusRef = builder.objectRef<WarmPoolStatus>('WarmPoolStatus').implement({
    description:
      'The warm pool for one image: sandboxes created, started and frozen ahead of time, so that a run of the image starts without ' +
      'waiting for a container to be created. Each serves one run; the pool is refilled in the background after each take.',
    fields: (t) => ({
      image: t.exposeString('image', { description: 'The image kept warm (WARM_POOL_IMAGES).' }),
      target: t.exposeInt('target', { description: 'Sandboxes kept ready for the image (WARM_POOL_SIZE).' }),
      ready: t.exposeInt('ready', {
        description: 'Sandboxes ready now. Below target right after takes (a refill is under way) or while the engine fails or lacks the image.',
      }),
    }),
  });

  builder.objectType('HealthReport', {
    description: 'The health of bosun and of every monitored container, now.',
    fields: (t) => ({
      generatedAt: t.expose('generatedAt', { type: 'DateTime', description: 'When the report was made.' }),
      docker: t.expose('docker', { type: 'DockerEngineHealth', description: 'Whether the Docker engine answers.' }),
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
      overall: t.expose('overall', { type: 'HealthOverall', description: 'The containers counted by level.' }),
      containers: t.expose('containers', {
        type: ['ContainerHealth'],
        description: "The runs' containers; the warm pool's frozen sandboxes are not among them (they are no runs) until a run takes one.",
      }),
      warmPool: t.field({
        type: [WarmPoolStatusRef],
        description: 'The warm pool, one entry per image kept warm; empty when WARM_POOL_SIZE is 0.',
        resolve: (_report, _args, ctx) => ctx.services.warmPool.status(),
      }),
      thresholds: t.expose('thresholds', { type: 'ResourceThresholds', description: 'The thresholds in force.' }),
    }),
  });

  builder.objectType('ConcurrencyAdvice', {
    description: "How many runs the host can take at once, from its capacity and the runs' measured peaks, and why (see the README).",
    fields: (t) => ({
      current: t.exposeInt('current', {
        description:
          "The queue's limit now; 0 = unlimited. In a cluster, this node's own cap (NODE_MAX_CONCURRENT_AGENTS, as autoscaling moved it): the advice is about this node's host.",
      }),
      recommended: t.exposeInt('recommended', { description: 'What the host can take: 1 to 4.' }),
      canIncrease: t.exposeBoolean('canIncrease', { description: 'recommended > current (never when current is 0, unlimited).' }),
      reason: t.exposeString('reason', { description: 'Why, in one sentence for people.' }),
    }),
  });

  builder.queryFields((t) => ({
    healthReport: t.field({
      type: 'HealthReport',
      description: 'The health of the engine, the store and every monitored container, now.',
      resolve: (_root, _args, ctx) => ctx.services.monitor.generateReport(),
    }),
    concurrencyAdvice: t.field({
      type: 'ConcurrencyAdvice',
      description: 'How many runs at once the host can take now, and why.',
      resolve: (_root, _args, ctx) => ctx.services.monitor.concurrencyAdvice(),
    }),
  }));

  builder.subscriptionFields((t) => ({
    resourceSamples: t.field({
      type: 'ResourceSample',
      description:
        'Published samples, of one run and/or one container if given. With `agentId`: NOT_FOUND for an unknown run; completes once ' +
        'the run is final (at once for a finished run).',
      args: {
        agentId: t.arg.id({ description: "Only this run's samples." }),
        containerId: t.arg.id({ description: "Only this container's samples." }),
      },
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
      args: { minLevel: t.arg({ type: HealthLevel, description: 'The lowest level sent; default WARNING.' }) },
      subscribe: (_root, args, ctx) => healthAlerts(ctx.services, ctx.streams, args.minLevel),
      resolve: unwrapStreamItem,
    }),
  }));
}
