/**
 * The one place that reads the environment. {@link loadConfig} validates every variable and
 * returns a typed, deeply frozen {@link BosunConfig}; every other module takes what it needs
 * from that object. A bad value stops start-up with one line naming the variable, the value and
 * what was expected.
 */
import { availableParallelism, hostname } from 'node:os';
import { ConfigError, EnvReader, hidden, type Environment } from './env-reader.js';
import type { DockerConnection } from './sandbox/docker-client.js';
import { parseImageReference } from './sandbox/image-reference.js';
import { parseCpus, parseMemoryBytes, parsePidsLimit, type SandboxLimits } from './sandbox/limits.js';
import { MAX_TIMER_DELAY_MS } from './shared/constants.js';
import { isLoopbackHost } from './shared/loopback.js';

export { ConfigError, type Environment } from './env-reader.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface ResourceThresholds {
  readonly cpuPercentWarning: number;
  readonly cpuPercentCritical: number;
  readonly memoryPercentWarning: number;
  readonly memoryPercentCritical: number;
  /** Process counts (PIDS_WARNING / PIDS_CRITICAL); see {@link ResourceThresholds.pidsCountAlways}. */
  readonly pidsWarning: number;
  readonly pidsCritical: number;
  /** Processes as a % of the container's pids limit (PIDS_WARNING_PERCENT / PIDS_CRITICAL_PERCENT). */
  readonly pidsPercentWarning: number;
  readonly pidsPercentCritical: number;
  /**
   * Whether the process-count thresholds grade every container (PIDS_WARNING or PIDS_CRITICAL is
   * set), besides the percentage, the worse grade counting; otherwise they grade only a container
   * whose pids limit is unknown.
   */
  readonly pidsCountAlways: boolean;
}

/**
 * Cluster mode (issue 17): several bosun nodes as one, the queue in BullMQ on Redis and the
 * history in PostgreSQL. Set by REDIS_URL and BOSUN_DB_URL together.
 */
export interface ClusterConfig {
  /** `redis://` or `rediss://` (REDIS_URL); may hold a password: never log it. */
  readonly redisUrl: string;
  /** `postgres://` or `postgresql://` (BOSUN_DB_URL); may hold a password: never log it. */
  readonly databaseUrl: string;
  /**
   * This node's name among the nodes (BOSUN_NODE_NAME): `AgentRun.node`, the interrupted runs'
   * error when it dies.
   * @default the host name
   */
  readonly nodeName: string;
  /**
   * Runs this node runs at once at most, within the cluster-wide MAX_CONCURRENT_AGENTS
   * (NODE_MAX_CONCURRENT_AGENTS); 0 means no limit of its own.
   * @default MAX_CONCURRENT_AGENTS
   */
  readonly nodeMaxConcurrentAgents: number;
  /** Where the other nodes reach this one (BOSUN_NODE_URL), when calls must be routed to it. */
  readonly nodeUrl: string | undefined;
  /**
   * How long a node that stops renewing its lease counts as alive (NODE_LEASE_MS): past it,
   * another node ends its running runs INTERRUPTED.
   * @default 30000
   */
  readonly nodeLeaseMs: number;
}

/** The variables of cluster mode besides the two that turn it on. */
const CLUSTER_ONLY_VARIABLES = ['BOSUN_NODE_NAME', 'NODE_MAX_CONCURRENT_AGENTS', 'BOSUN_NODE_URL', 'NODE_LEASE_MS'] as const;

export interface BosunConfig {
  readonly port: number;
  /** Without BOSUN_API_TOKEN, only a loopback address (see {@link isLoopbackHost}). */
  readonly host: string;
  /**
   * The bearer token that may do everything (BOSUN_API_TOKEN). Unset: no authentication, and
   * bosun listens on loopback only.
   */
  readonly apiToken: string | undefined;
  /** A bearer token for queries and subscriptions only (BOSUN_READ_TOKEN); needs BOSUN_API_TOKEN. */
  readonly readToken: string | undefined;
  /**
   * Browser origins besides bosun's own (the request's Host) that may open a WebSocket to it and
   * call it cross-origin (CORS). Empty by default: same origin only.
   */
  readonly allowedOrigins: readonly string[];
  /**
   * Streaming connections at most: WebSockets past `connection_init` and SSE subscriptions
   * together. Further ones are refused with HTTP 503 (close 1013 at `connection_init`).
   */
  readonly maxWsConnections: number;
  /**
   * WebSockets from one client address (IPv6: one /64) that have not sent an accepted
   * `connection_init` yet, at most; further upgrades from it get HTTP 503. They do not take
   * streaming slots, and are closed (4408) after 3 s without `connection_init`.
   */
  readonly maxPendingWsPerAddress: number;
  /** startAgent and retryAgent calls a minute per token (all callers together without tokens). */
  readonly startRatePerMinute: number;
  readonly docker: DockerConnection;
  /** This server's identity on the containers it owns (label `bosun.instance`); generated when unset. */
  readonly instanceId: string | undefined;
  readonly sandboxImage: string;
  readonly defaultLimits: SandboxLimits;
  /** The sandbox's locked-down file system: a read-only root with size-capped tmpfs mounts. */
  readonly sandboxTmpBytes: number;
  readonly sandboxWorkspaceBytes: number;
  /** A Docker network for sandboxes; null = no network at all (`none`). */
  readonly sandboxNetwork: string | null;
  /** Any single Docker API call that takes longer fails (the engine is treated as unreachable). */
  readonly dockerCallTimeoutMs: number;
  /**
   * Sandboxes kept created, started and frozen per image of {@link BosunConfig.warmPoolImages}, so
   * that a run starts without waiting for a container (WARM_POOL_SIZE); 0 turns the pool off.
   * @default 1
   */
  readonly warmPoolSize: number;
  /**
   * The images kept warm (WARM_POOL_IMAGES, comma-separated, duplicates dropped).
   * @default [SANDBOX_IMAGE]
   */
  readonly warmPoolImages: readonly string[];
  /**
   * A pool sandbox older than this is replaced (WARM_POOL_MAX_AGE_MS).
   * @default 3600000 (1 h)
   */
  readonly warmPoolMaxAgeMs: number;
  /** 0 means unlimited. */
  readonly maxConcurrentAgents: number;
  readonly maxQueueLength: number;
  readonly queueTimeoutMs: number;
  readonly agentTimeoutMs: number;
  readonly stopGraceMs: number;
  readonly healthCheckIntervalMs: number;
  readonly resourceSampleIntervalMs: number;
  readonly thresholds: ResourceThresholds;
  readonly alertConsecutiveSamples: number;
  readonly historyWindowMs: number;
  readonly concurrencyAutoscale: boolean;
  readonly concurrencyAutoscaleMax: number;
  readonly alertWebhookUrl: string | undefined;
  readonly alertWebhookSecret: string | undefined;
  /** Log lines kept per run (a ring buffer: the oldest go first). */
  readonly logLinesPerRun: number;
  /** Output bytes of a run that are recorded; past it, lines are dropped except the last ones of each step. */
  readonly logBytesPerRun: number;
  /** Artifact bytes kept per run at most (the files a run names in `config.artifacts`). */
  readonly artifactBytesPerRun: number;
  /** Finished runs kept before the oldest are dropped. */
  readonly runRetentionCount: number;
  /** Finished runs older than this are dropped. */
  readonly runRetentionMs: number;
  /** Resource samples older than this are dropped (older than the history window, they are thinned to one a minute). */
  readonly sampleRetentionMs: number;
  /** The SQLite database; `:memory:` keeps nothing across restarts. */
  readonly dbPath: string;
  /** On SIGTERM / SIGINT, how long running runs may finish before they are stopped. */
  readonly shutdownGraceMs: number;
  /** External runs: ended TIMED_OUT / IDLE_TIMEOUT after this long without a command or file call, unless the run says otherwise. */
  readonly externalIdleTimeoutMs: number;
  /** The largest archive `uploadArchive` takes; only its multipart requests may exceed the 1 MiB body limit, up to this. */
  readonly uploadMaxBytes: number;
  readonly logLevel: LogLevel;
  /** Cluster mode's settings; undefined for the embedded default (SQLite and the in-process queue). */
  readonly cluster: ClusterConfig | undefined;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Reads and validates the environment (by default `process.env`).
 * @param hostCpus the CPUs a sandbox may be given at most; defaults to this machine's.
 * @throws ConfigError naming the first bad variable.
 */
export function loadConfig(env: Environment = process.env, hostCpus = availableParallelism()): BosunConfig {
  const read = new EnvReader(env);

  const cpuPercentWarning = read.number('CPU_PERCENT_WARNING', 70, { min: 0, max: 100 });
  const cpuPercentCritical = read.number('CPU_PERCENT_CRITICAL', 90, { min: cpuPercentWarning, max: 100 });
  const memoryPercentWarning = read.number('MEMORY_PERCENT_WARNING', 70, { min: 0, max: 100 });
  const memoryPercentCritical = read.number('MEMORY_PERCENT_CRITICAL', 90, { min: memoryPercentWarning, max: 100 });
  const pidsWarning = read.integer('PIDS_WARNING', 800, { min: 1 });
  const pidsCritical = read.integer('PIDS_CRITICAL', 950, { min: pidsWarning });
  const pidsPercentWarning = read.number('PIDS_WARNING_PERCENT', 80, { min: 0, max: 100 });
  const pidsPercentCritical = read.number('PIDS_CRITICAL_PERCENT', 95, { min: pidsPercentWarning, max: 100 });
  const pidsCountAlways = read.isSet('PIDS_WARNING') || read.isSet('PIDS_CRITICAL');

  const port = read.integer('PORT', 4000, { min: 0, max: 65535 });
  const apiToken = read.secret('BOSUN_API_TOKEN');
  const readToken = read.secret('BOSUN_READ_TOKEN');
  if (readToken !== undefined && apiToken === undefined) {
    throw new ConfigError('BOSUN_READ_TOKEN', hidden(readToken), 'to be set only together with BOSUN_API_TOKEN');
  }
  if (readToken !== undefined && readToken === apiToken) {
    throw new ConfigError('BOSUN_READ_TOKEN', hidden(readToken), 'a token different from BOSUN_API_TOKEN');
  }
  const host = read.string('HOST', '127.0.0.1');
  const sandboxImage = read.image('SANDBOX_IMAGE', 'bosun-sandbox:latest');
  if (apiToken === undefined && !isLoopbackHost(host)) {
    throw new ConfigError('HOST', host, 'a loopback address unless BOSUN_API_TOKEN is set');
  }

  const maxConcurrentAgents = read.integer('MAX_CONCURRENT_AGENTS', 1, { min: 0, max: 10_000, note: '0 = unlimited' });

  const config: BosunConfig = {
    port,
    host,
    apiToken,
    readToken,
    allowedOrigins: read.origins('ALLOWED_ORIGINS'),
    maxWsConnections: read.integer('MAX_WS_CONNECTIONS', 500, { min: 1, max: 100_000 }),
    maxPendingWsPerAddress: read.integer('MAX_PENDING_WS_PER_ADDRESS', 16, { min: 1, max: 100_000 }),
    startRatePerMinute: read.integer('START_RATE_PER_MINUTE', 60, { min: 1, max: 1_000_000 }),
    docker: read.docker(),
    instanceId: read.optional('BOSUN_INSTANCE_ID', /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'letters, digits, _ . - (at most 63)'),
    sandboxImage,
    defaultLimits: {
      cpus: read.parsed('DOCKER_CPU_LIMIT', '1', (raw) => parseCpus(raw, hostCpus)),
      memoryBytes: read.parsed('DOCKER_MEMORY_LIMIT', '2g', parseMemoryBytes),
      pidsLimit: read.parsed('DOCKER_PIDS_LIMIT', '1000', parsePidsLimit),
    },
    sandboxTmpBytes: read.parsed('SANDBOX_TMP_SIZE', '256m', parseMemoryBytes),
    sandboxWorkspaceBytes: read.parsed('SANDBOX_WORKSPACE_SIZE', '1g', parseMemoryBytes),
    sandboxNetwork: read.optional('SANDBOX_NETWORK', /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'a Docker network name') ?? null,
    dockerCallTimeoutMs: read.integer('DOCKER_CALL_TIMEOUT_MS', 30_000, { min: 100, max: MAX_TIMER_DELAY_MS }),
    warmPoolSize: read.integer('WARM_POOL_SIZE', 1, { min: 0, max: 100, note: '0 = off' }),
    warmPoolImages: read.parsed('WARM_POOL_IMAGES', sandboxImage, parseImageList),
    warmPoolMaxAgeMs: read.integer('WARM_POOL_MAX_AGE_MS', 3_600_000, { min: 1_000, max: MAX_TIMER_DELAY_MS }),
    maxConcurrentAgents,
    maxQueueLength: read.integer('MAX_QUEUE_LENGTH', 1000, { min: 1, max: 1_000_000 }),
    queueTimeoutMs: read.integer('QUEUE_TIMEOUT_MS', 300_000, { min: 1, max: MAX_TIMER_DELAY_MS }),
    agentTimeoutMs: read.integer('AGENT_TIMEOUT_MS', 1_800_000, { min: 1_000, max: MAX_TIMER_DELAY_MS }),
    stopGraceMs: read.integer('STOP_GRACE_MS', 5_000, { min: 0, max: MAX_TIMER_DELAY_MS }),
    healthCheckIntervalMs: read.integer('HEALTH_CHECK_INTERVAL_MS', 30_000, { min: 100, max: MAX_TIMER_DELAY_MS }),
    resourceSampleIntervalMs: read.integer('RESOURCE_SAMPLE_INTERVAL_MS', 1_000, { min: 100, max: MAX_TIMER_DELAY_MS }),
    thresholds: {
      cpuPercentWarning,
      cpuPercentCritical,
      memoryPercentWarning,
      memoryPercentCritical,
      pidsWarning,
      pidsCritical,
      pidsPercentWarning,
      pidsPercentCritical,
      pidsCountAlways,
    },
    alertConsecutiveSamples: read.integer('ALERT_CONSECUTIVE_SAMPLES', 2, { min: 1, max: 1000 }),
    historyWindowMs: read.integer('HISTORY_WINDOW_MS', 900_000, { min: 1_000 }),
    concurrencyAutoscale: read.boolean('CONCURRENCY_AUTOSCALE', false),
    concurrencyAutoscaleMax: read.integer('CONCURRENCY_AUTOSCALE_MAX', 4, { min: 1, max: 4 }),
    alertWebhookUrl: read.url('ALERT_WEBHOOK_URL'),
    alertWebhookSecret: read.optional('ALERT_WEBHOOK_SECRET', /^.{1,}$/s, 'a non-empty secret'),
    logLinesPerRun: read.integer('LOG_LINES_PER_RUN', 10_000, { min: 100, max: 10_000_000 }),
    logBytesPerRun: read.parsed('LOG_BYTES_PER_RUN', '32m', parseMemoryBytes),
    artifactBytesPerRun: read.parsed('ARTIFACT_BYTES_PER_RUN', '100m', parseMemoryBytes),
    runRetentionCount: read.integer('RUN_RETENTION_COUNT', 5_000, { min: 1 }),
    runRetentionMs: read.integer('RUN_RETENTION_MS', 7 * 24 * 3_600_000, { min: 60_000 }),
    sampleRetentionMs: read.integer('SAMPLE_RETENTION_MS', 24 * 3_600_000, { min: 60_000 }),
    dbPath: read.string('BOSUN_DB_PATH', './data/bosun.db'),
    shutdownGraceMs: read.integer('SHUTDOWN_GRACE_MS', 10_000, { min: 0, max: MAX_TIMER_DELAY_MS }),
    externalIdleTimeoutMs: read.integer('EXTERNAL_IDLE_TIMEOUT_MS', 300_000, { min: 1_000, max: MAX_TIMER_DELAY_MS }),
    uploadMaxBytes: read.parsed('UPLOAD_MAX_BYTES', '100m', parseMemoryBytes),
    logLevel: read.oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
    cluster: readCluster(read, maxConcurrentAgents),
  };
  return deepFreeze(config);
}

/**
 * Cluster mode's settings: REDIS_URL and BOSUN_DB_URL together turn it on, one without the other
 * stops start-up naming the missing one, and the other cluster variables are refused without
 * them (set, they would be silently ignored).
 */
function readCluster(read: EnvReader, maxConcurrentAgents: number): ClusterConfig | undefined {
  const redisUrl = read.serviceUrl('REDIS_URL', ['redis:', 'rediss:'], 'a redis:// or rediss:// URL');
  const databaseUrl = read.serviceUrl('BOSUN_DB_URL', ['postgres:', 'postgresql:'], 'a postgres:// or postgresql:// URL');
  if (redisUrl === undefined && databaseUrl === undefined) {
    const stray = CLUSTER_ONLY_VARIABLES.find((name) => read.isSet(name));
    if (stray !== undefined) {
      throw new ConfigError(stray, read.string(stray, ''), 'to be set only in cluster mode, together with REDIS_URL and BOSUN_DB_URL');
    }
    return undefined;
  }
  if (databaseUrl === undefined) {
    throw ConfigError.missing('BOSUN_DB_URL', 'REDIS_URL is set, and cluster mode needs both REDIS_URL and BOSUN_DB_URL (a postgres:// URL)');
  }
  if (redisUrl === undefined) {
    throw ConfigError.missing('REDIS_URL', 'BOSUN_DB_URL is set, and cluster mode needs both REDIS_URL (a redis:// URL) and BOSUN_DB_URL');
  }
  return {
    redisUrl,
    databaseUrl,
    nodeName: read.optional('BOSUN_NODE_NAME', NODE_NAME, NODE_NAME_EXPECTED) ?? defaultNodeName(),
    nodeMaxConcurrentAgents: read.integer('NODE_MAX_CONCURRENT_AGENTS', maxConcurrentAgents, {
      min: 0,
      max: 10_000,
      note: '0 = no limit of its own',
    }),
    nodeUrl: read.url('BOSUN_NODE_URL'),
    nodeLeaseMs: read.integer('NODE_LEASE_MS', 30_000, { min: 1_000, max: MAX_TIMER_DELAY_MS }),
  };
}

const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const NODE_NAME_EXPECTED = 'letters, digits, _ . - (at most 63)';

/** The host name, as a node name (a host name with other characters, or a long one, must be named by BOSUN_NODE_NAME). */
function defaultNodeName(): string {
  const name = hostname();
  if (!NODE_NAME.test(name))
    throw new ConfigError('BOSUN_NODE_NAME', '', `${NODE_NAME_EXPECTED}; the host name ${JSON.stringify(name)} is not one, so set it`);
  return name;
}

/** Comma-separated image references, each in the engine's grammar; blanks between commas are skipped. */
function parseImageList(raw: string): readonly string[] {
  const images = raw
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  for (const image of images) parseImageReference(image);
  if (images.length === 0) parseImageReference(raw);
  return [...new Set(images)];
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
