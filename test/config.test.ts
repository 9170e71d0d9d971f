import { describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { ConfigError, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({}, 2);
    expect(config).toMatchObject({
      port: 4000,
      host: '127.0.0.1',
      docker: { kind: 'socket', socketPath: '/var/run/docker.sock' },
      sandboxImage: 'bosun-sandbox:latest',
      defaultLimits: { cpus: 1, memoryBytes: 2 * 1024 ** 3, pidsLimit: 1000 },
      maxConcurrentAgents: 1,
      maxQueueLength: 1000,
      queueTimeoutMs: 300_000,
      agentTimeoutMs: 1_800_000,
      stopGraceMs: 5_000,
      healthCheckIntervalMs: 30_000,
      resourceSampleIntervalMs: 1_000,
      thresholds: {
        cpuPercentWarning: 70,
        cpuPercentCritical: 90,
        memoryPercentWarning: 70,
        memoryPercentCritical: 90,
        pidsWarning: 800,
        pidsCritical: 950,
      },
      logLevel: 'info',
    });
  });

  it.each(['bosun-sandbox:latest', ' localhost:5000/team/img:1.0 ', `img@sha256:${'f'.repeat(64)}`])('accepts SANDBOX_IMAGE=%j', (image) => {
    expect(loadConfig({ SANDBOX_IMAGE: image }, 2).sandboxImage).toBe(image.trim());
  });

  it('keeps one sandbox of SANDBOX_IMAGE warm for up to an hour by default', () => {
    expect(loadConfig({}, 2)).toMatchObject({ warmPoolSize: 1, warmPoolImages: ['bosun-sandbox:latest'], warmPoolMaxAgeMs: 3_600_000 });
    expect(loadConfig({ SANDBOX_IMAGE: 'team/agent:2' }, 2).warmPoolImages).toEqual(['team/agent:2']);
  });

  it('reads the warm pool settings: 0 turns it off, images comma-separated without duplicates', () => {
    const config = loadConfig({ WARM_POOL_SIZE: '0', WARM_POOL_IMAGES: ' a:1, b/c:2 ,,a:1 ', WARM_POOL_MAX_AGE_MS: '60000' }, 2);
    expect(config).toMatchObject({ warmPoolSize: 0, warmPoolImages: ['a:1', 'b/c:2'], warmPoolMaxAgeMs: 60_000 });
    expect(Object.isFrozen(config.warmPoolImages)).toBe(true);
  });

  it('is deeply frozen', () => {
    const config = loadConfig({}, 2);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.thresholds)).toBe(true);
    expect(Object.isFrozen(config.defaultLimits)).toBe(true);
  });

  it('reads overrides', () => {
    const config = loadConfig(
      {
        DOCKER_CPU_LIMIT: '0.5',
        DOCKER_MEMORY_LIMIT: '512m',
        DOCKER_PIDS_LIMIT: '64',
        MAX_CONCURRENT_AGENTS: '0',
        DOCKER_HOST: 'tcp://127.0.0.1:2375',
        LOG_LEVEL: 'DEBUG',
      },
      2,
    );
    expect(config.defaultLimits).toEqual({ cpus: 0.5, memoryBytes: 512 * 1024 ** 2, pidsLimit: 64 });
    expect(config.maxConcurrentAgents).toBe(0);
    expect(config.docker).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 2375 });
    expect(config.logLevel).toBe('debug');
    expect(loadConfig({ DOCKER_HOST: 'unix:///run/alt.sock' }, 2).docker).toEqual({ kind: 'socket', socketPath: '/run/alt.sock' });
  });

  it.each([
    ['DOCKER_MEMORY_LIMIT', '2x', 'DOCKER_MEMORY_LIMIT="2x": expected a size such as 512m or 2g (units b, k, m, g; at least 6m)'],
    ['DOCKER_MEMORY_LIMIT', '5m', 'DOCKER_MEMORY_LIMIT="5m": expected a size such as 512m or 2g (units b, k, m, g; at least 6m)'],
    ['DOCKER_CPU_LIMIT', '0', `DOCKER_CPU_LIMIT="0": expected a number of CPUs from 0.01 to 2 (this host's CPUs)`],
    ['DOCKER_CPU_LIMIT', '4', `DOCKER_CPU_LIMIT="4": expected a number of CPUs from 0.01 to 2 (this host's CPUs)`],
    ['DOCKER_PIDS_LIMIT', '8', 'DOCKER_PIDS_LIMIT="8": expected an integer from 16 to 4194304'],
    ['PORT', 'http', 'PORT="http": expected an integer from 0 to 65535'],
    ['PORT', '70000', 'PORT="70000": expected an integer from 0 to 65535'],
    ['MAX_CONCURRENT_AGENTS', '-1', 'MAX_CONCURRENT_AGENTS="-1": expected an integer from 0 to 10000 (0 = unlimited)'],
    ['MAX_QUEUE_LENGTH', '0', 'MAX_QUEUE_LENGTH="0": expected an integer from 1 to 1000000'],
    ['QUEUE_TIMEOUT_MS', '1.5', 'QUEUE_TIMEOUT_MS="1.5": expected an integer from 1 to 2147483647'],
    ['QUEUE_TIMEOUT_MS', '3000000000', 'QUEUE_TIMEOUT_MS="3000000000": expected an integer from 1 to 2147483647'],
    ['AGENT_TIMEOUT_MS', 'soon', 'AGENT_TIMEOUT_MS="soon": expected an integer from 1000 to 2147483647'],
    ['AGENT_TIMEOUT_MS', '500', 'AGENT_TIMEOUT_MS="500": expected an integer from 1000 to 2147483647'],
    ['STOP_GRACE_MS', '-5', 'STOP_GRACE_MS="-5": expected an integer from 0 to 2147483647'],
    ['HEALTH_CHECK_INTERVAL_MS', '10', 'HEALTH_CHECK_INTERVAL_MS="10": expected an integer from 100 to 2147483647'],
    ['RESOURCE_SAMPLE_INTERVAL_MS', 'x', 'RESOURCE_SAMPLE_INTERVAL_MS="x": expected an integer from 100 to 2147483647'],
    ['CPU_PERCENT_WARNING', '101', 'CPU_PERCENT_WARNING="101": expected a number from 0 to 100'],
    ['CPU_PERCENT_CRITICAL', '60', 'CPU_PERCENT_CRITICAL="60": expected a number from 70 to 100'],
    ['MEMORY_PERCENT_WARNING', 'high', 'MEMORY_PERCENT_WARNING="high": expected a number from 0 to 100'],
    ['MEMORY_PERCENT_CRITICAL', '50', 'MEMORY_PERCENT_CRITICAL="50": expected a number from 70 to 100'],
    ['PIDS_WARNING', '0', 'PIDS_WARNING="0": expected an integer of at least 1'],
    ['PIDS_CRITICAL', '700', 'PIDS_CRITICAL="700": expected an integer of at least 800'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent'],
    ['DOCKER_HOST', 'ssh://box', 'DOCKER_HOST="ssh://box": expected unix:///path/to/docker.sock or tcp://host:port'],
    ['DOCKER_SOCKET', 'docker.sock', 'DOCKER_SOCKET="docker.sock": expected an absolute path to the Docker socket'],
    ['CONCURRENCY_AUTOSCALE', 'maybe', 'CONCURRENCY_AUTOSCALE="maybe": expected true or false'],
    ['CONCURRENCY_AUTOSCALE_MAX', '5', 'CONCURRENCY_AUTOSCALE_MAX="5": expected an integer from 1 to 4'],
    ['ALERT_WEBHOOK_URL', 'ftp://x', 'ALERT_WEBHOOK_URL="ftp://x": expected an http:// or https:// URL'],
    ['BOSUN_INSTANCE_ID', 'a b', 'BOSUN_INSTANCE_ID="a b": expected letters, digits, _ . - (at most 63)'],
    ['SANDBOX_TMP_SIZE', '2x', 'SANDBOX_TMP_SIZE="2x": expected a size such as 512m or 2g (units b, k, m, g; at least 6m)'],
    ['SANDBOX_WORKSPACE_SIZE', '0', 'SANDBOX_WORKSPACE_SIZE="0": expected a size such as 512m or 2g (units b, k, m, g; at least 6m)'],
    ['SANDBOX_NETWORK', 'a b', 'SANDBOX_NETWORK="a b": expected a Docker network name'],
    [
      'SANDBOX_IMAGE',
      'bosun-sandbox/',
      'SANDBOX_IMAGE="bosun-sandbox/": expected an image reference such as bosun-sandbox:latest or registry.example.com/team/image:1.0 (a path component is empty: no leading, trailing or doubled "/")',
    ],
    [
      'SANDBOX_IMAGE',
      'a:b:c',
      'SANDBOX_IMAGE="a:b:c": expected an image reference such as bosun-sandbox:latest or registry.example.com/team/image:1.0 (more than one ":" after the last "/": one tag at most)',
    ],
    [
      'SANDBOX_IMAGE',
      'Bosun',
      'SANDBOX_IMAGE="Bosun": expected an image reference such as bosun-sandbox:latest or registry.example.com/team/image:1.0 (the repository path must be lowercase)',
    ],
    ['DOCKER_CALL_TIMEOUT_MS', '10', 'DOCKER_CALL_TIMEOUT_MS="10": expected an integer from 100 to 2147483647'],
    ['LOG_BYTES_PER_RUN', 'lots', 'LOG_BYTES_PER_RUN="lots": expected a size such as 512m or 2g (units b, k, m, g; at least 6m)'],
    ['SHUTDOWN_GRACE_MS', '-1', 'SHUTDOWN_GRACE_MS="-1": expected an integer from 0 to 2147483647'],
    ['RUN_RETENTION_MS', '5', 'RUN_RETENTION_MS="5": expected an integer of at least 60000'],
    ['WARM_POOL_SIZE', '-1', 'WARM_POOL_SIZE="-1": expected an integer from 0 to 100 (0 = off)'],
    ['WARM_POOL_MAX_AGE_MS', '10', 'WARM_POOL_MAX_AGE_MS="10": expected an integer from 1000 to 2147483647'],
    [
      'WARM_POOL_IMAGES',
      'ok:1,Bad',
      'WARM_POOL_IMAGES="ok:1,Bad": expected an image reference such as bosun-sandbox:latest or registry.example.com/team/image:1.0 (the repository path must be lowercase)',
    ],
  ])('%s=%j stops start-up with one line', (variable, value, message) => {
    let error: unknown;
    try {
      loadConfig({ [variable]: value }, 2);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe(message);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).not.toContain('\n');
  });
});

describe('loadConfig: access settings', () => {
  const TOKEN = 'an-api-token-of-24-chars';
  const READ = 'a-read-token-of-24-chars';

  it('defaults to no token, same-origin only, 500 WebSockets and 60 starts a minute', () => {
    expect(loadConfig({}, 2)).toMatchObject({
      apiToken: undefined,
      readToken: undefined,
      allowedOrigins: [],
      maxWsConnections: 500,
      startRatePerMinute: 60,
    });
  });

  it('reads tokens, origins (normalized, deduplicated) and the limits', () => {
    const config = loadConfig(
      {
        BOSUN_API_TOKEN: ` ${TOKEN} `,
        BOSUN_READ_TOKEN: READ,
        ALLOWED_ORIGINS: 'https://CI.example.com/, http://localhost:5173 ,https://ci.example.com:443,',
        MAX_WS_CONNECTIONS: '20',
        START_RATE_PER_MINUTE: '5',
      },
      2,
    );
    expect(config).toMatchObject({
      apiToken: TOKEN,
      readToken: READ,
      allowedOrigins: ['https://ci.example.com', 'http://localhost:5173'],
      maxWsConnections: 20,
      startRatePerMinute: 5,
    });
    expect(Object.isFrozen(config.allowedOrigins)).toBe(true);
  });

  it.each(['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', 'bosun.localhost'])('accepts HOST=%s without a token', (host) => {
    expect(loadConfig({ HOST: host }, 2).host).toBe(host);
  });

  it('accepts any HOST once BOSUN_API_TOKEN is set', () => {
    expect(loadConfig({ HOST: '0.0.0.0', BOSUN_API_TOKEN: TOKEN }, 2).host).toBe('0.0.0.0');
  });

  it.each([
    [{ HOST: '0.0.0.0' }, 'HOST', 'HOST="0.0.0.0": expected a loopback address unless BOSUN_API_TOKEN is set'],
    [{ HOST: '::' }, 'HOST', 'HOST="::": expected a loopback address unless BOSUN_API_TOKEN is set'],
    [
      { HOST: '192.168.1.10', BOSUN_READ_TOKEN: READ },
      'BOSUN_READ_TOKEN',
      'BOSUN_READ_TOKEN="(hidden, 24 characters)": expected to be set only together with BOSUN_API_TOKEN',
    ],
    [
      { BOSUN_API_TOKEN: 'short-secret' },
      'BOSUN_API_TOKEN',
      'BOSUN_API_TOKEN="(hidden, 12 characters)": expected a token of 16 to 512 printable ASCII characters without spaces',
    ],
    [
      { BOSUN_API_TOKEN: 'has a space in this token' },
      'BOSUN_API_TOKEN',
      'BOSUN_API_TOKEN="(hidden, 25 characters)": expected a token of 16 to 512 printable ASCII characters without spaces',
    ],
    [
      { BOSUN_API_TOKEN: TOKEN, BOSUN_READ_TOKEN: TOKEN },
      'BOSUN_READ_TOKEN',
      'BOSUN_READ_TOKEN="(hidden, 24 characters)": expected a token different from BOSUN_API_TOKEN',
    ],
    [
      { ALLOWED_ORIGINS: 'https://ci.example.com/path' },
      'ALLOWED_ORIGINS',
      'ALLOWED_ORIGINS="https://ci.example.com/path": expected comma-separated origins such as https://ci.example.com (scheme, host and port only)',
    ],
    [
      { ALLOWED_ORIGINS: 'ftp://files.example.com' },
      'ALLOWED_ORIGINS',
      'ALLOWED_ORIGINS="ftp://files.example.com": expected comma-separated origins such as https://ci.example.com (scheme, host and port only)',
    ],
    [
      { ALLOWED_ORIGINS: '*' },
      'ALLOWED_ORIGINS',
      'ALLOWED_ORIGINS="*": expected comma-separated origins such as https://ci.example.com (scheme, host and port only)',
    ],
    [{ MAX_WS_CONNECTIONS: '0' }, 'MAX_WS_CONNECTIONS', 'MAX_WS_CONNECTIONS="0": expected an integer from 1 to 100000'],
    [{ START_RATE_PER_MINUTE: 'lots' }, 'START_RATE_PER_MINUTE', 'START_RATE_PER_MINUTE="lots": expected an integer from 1 to 1000000'],
  ])('%j stops start-up with one line (and never shows a token)', (env, variable, message) => {
    let error: unknown;
    try {
      loadConfig(env, 2);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe(message);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).not.toContain(TOKEN);
    expect((error as ConfigError).message).not.toContain(READ);
    expect((error as ConfigError).message).not.toContain('short-secret');
  });
});

describe('loadConfig: blank variables', () => {
  /**
   * Every variable loadConfig reads, found by watching it read an empty environment (so a
   * variable added later is covered without editing this list).
   */
  function variablesRead(): string[] {
    const names = new Set<string>();
    const watching = new Proxy<Record<string, string | undefined>>(
      {},
      {
        get: (_target, name) => {
          if (typeof name === 'string') names.add(name);
          return undefined;
        },
      },
    );
    loadConfig(watching, 2);
    return [...names].sort();
  }

  const variables = variablesRead();

  it('finds every variable the config reads', () => {
    // A sample of each kind of reader: number, integer, size, string, secret, list, URL, docker.
    for (const name of [
      'CPU_PERCENT_WARNING',
      'PORT',
      'DOCKER_MEMORY_LIMIT',
      'SANDBOX_TMP_SIZE',
      'HOST',
      'BOSUN_API_TOKEN',
      'ALLOWED_ORIGINS',
      'ALERT_WEBHOOK_URL',
      'DOCKER_SOCKET',
      'DOCKER_HOST',
      'LOG_LEVEL',
    ]) {
      expect(variables).toContain(name);
    }
    expect(variables.length).toBeGreaterThanOrEqual(40);
  });

  const defaults = loadConfig({}, 2);
  const blanks: [string, string][] = variables.flatMap((name): [string, string][] => [
    [name, ''],
    [name, ' \t '],
  ]);

  it.each(blanks)('%s=%j means unset: the default applies', (name, blank) => {
    expect(loadConfig({ [name]: blank }, 2)).toEqual(defaults);
  });

  it('reads all of them blank at once as the defaults', () => {
    expect(loadConfig(Object.fromEntries(variables.map((name) => [name, ''])), 2)).toEqual(defaults);
  });
});

describe('PIDs thresholds', () => {
  it('grade pids as a percentage of the limit by default (80 / 95); the counts apply to every container only when set', () => {
    expect(loadConfig({}, 2).thresholds).toMatchObject({
      pidsPercentWarning: 80,
      pidsPercentCritical: 95,
      pidsWarning: 800,
      pidsCritical: 950,
      pidsCountAlways: false,
    });
    expect(loadConfig({ PIDS_WARNING_PERCENT: '50', PIDS_CRITICAL_PERCENT: '75.5' }, 2).thresholds).toMatchObject({
      pidsPercentWarning: 50,
      pidsPercentCritical: 75.5,
      pidsCountAlways: false,
    });
    expect(loadConfig({ PIDS_WARNING: '100' }, 2).thresholds).toMatchObject({ pidsWarning: 100, pidsCountAlways: true });
    expect(loadConfig({ PIDS_CRITICAL: '2000' }, 2).thresholds).toMatchObject({ pidsCritical: 2000, pidsCountAlways: true });
    expect(loadConfig({ PIDS_WARNING: '  ' }, 2).thresholds.pidsCountAlways).toBe(false);
  });

  it.each([
    [{ PIDS_WARNING_PERCENT: '101' }, 'PIDS_WARNING_PERCENT="101": expected a number from 0 to 100'],
    [{ PIDS_WARNING_PERCENT: 'high' }, 'PIDS_WARNING_PERCENT="high": expected a number from 0 to 100'],
    [{ PIDS_CRITICAL_PERCENT: '70' }, 'PIDS_CRITICAL_PERCENT="70": expected a number from 80 to 100'],
    [{ PIDS_WARNING_PERCENT: '60', PIDS_CRITICAL_PERCENT: '50' }, 'PIDS_CRITICAL_PERCENT="50": expected a number from 60 to 100'],
  ])('%j stops start-up with one line', (env, message) => {
    expect(() => loadConfig(env, 2)).toThrow(ConfigError);
    expect(() => loadConfig(env, 2)).toThrow(message);
  });
});

describe('ARTIFACT_BYTES_PER_RUN', () => {
  it('defaults to 100m and takes a size', () => {
    expect(loadConfig({}, 2).artifactBytesPerRun).toBe(100 * 1024 ** 2);
    expect(loadConfig({ ARTIFACT_BYTES_PER_RUN: '1g' }, 2).artifactBytesPerRun).toBe(1024 ** 3);
  });

  it('refuses what is not a size', () => {
    expect(() => loadConfig({ ARTIFACT_BYTES_PER_RUN: 'lots' }, 2)).toThrow(/ARTIFACT_BYTES_PER_RUN="lots": expected a size such as 512m or 2g/);
  });
});

describe('cluster mode', () => {
  const CLUSTER = { REDIS_URL: 'redis://127.0.0.1:6379', BOSUN_DB_URL: 'postgres://bosun@127.0.0.1:5432/bosun' };

  function configError(env: Record<string, string>): ConfigError {
    try {
      loadConfig(env, 2);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).not.toContain('\n');
      return error as ConfigError;
    }
    throw new Error('loadConfig accepted it');
  }

  it('is off without REDIS_URL and BOSUN_DB_URL (blank counts as unset)', () => {
    expect(loadConfig({}, 2).cluster).toBeUndefined();
    expect(loadConfig({ REDIS_URL: ' ', BOSUN_DB_URL: '' }, 2).cluster).toBeUndefined();
  });

  it('is on with both, with the documented defaults, frozen', () => {
    const config = loadConfig({ ...CLUSTER, MAX_CONCURRENT_AGENTS: '3' }, 2);
    expect(config.cluster).toEqual({
      redisUrl: 'redis://127.0.0.1:6379',
      databaseUrl: 'postgres://bosun@127.0.0.1:5432/bosun',
      nodeName: hostname(),
      nodeMaxConcurrentAgents: 3,
      nodeUrl: undefined,
      nodeLeaseMs: 30_000,
    });
    expect(Object.isFrozen(config.cluster)).toBe(true);
  });

  it('takes every cluster variable', () => {
    const config = loadConfig(
      {
        REDIS_URL: 'rediss://:s3cret@redis.internal:6380/2',
        BOSUN_DB_URL: ' postgresql://bosun:pw@db.internal/bosun?sslmode=require ',
        BOSUN_NODE_NAME: 'node-b.eu_1',
        NODE_MAX_CONCURRENT_AGENTS: '0',
        BOSUN_NODE_URL: 'http://10.0.0.2:4000',
        NODE_LEASE_MS: '5000',
      },
      2,
    );
    expect(config.cluster).toEqual({
      redisUrl: 'rediss://:s3cret@redis.internal:6380/2',
      databaseUrl: 'postgresql://bosun:pw@db.internal/bosun?sslmode=require',
      nodeName: 'node-b.eu_1',
      nodeMaxConcurrentAgents: 0,
      nodeUrl: 'http://10.0.0.2:4000/',
      nodeLeaseMs: 5000,
    });
  });

  it('stops start-up with one line naming the missing one when only one of REDIS_URL and BOSUN_DB_URL is set', () => {
    const noDb = configError({ REDIS_URL: CLUSTER.REDIS_URL });
    expect(noDb.variable).toBe('BOSUN_DB_URL');
    expect(noDb.message).toBe(
      'BOSUN_DB_URL is not set: REDIS_URL is set, and cluster mode needs both REDIS_URL and BOSUN_DB_URL (a postgres:// URL)',
    );
    const noRedis = configError({ BOSUN_DB_URL: CLUSTER.BOSUN_DB_URL });
    expect(noRedis.variable).toBe('REDIS_URL');
    expect(noRedis.message).toBe(
      'REDIS_URL is not set: BOSUN_DB_URL is set, and cluster mode needs both REDIS_URL (a redis:// URL) and BOSUN_DB_URL',
    );
  });

  it.each([
    [{ REDIS_URL: 'http://127.0.0.1:6379' }, 'REDIS_URL', 'REDIS_URL="http://127.0.0.1:6379": expected a redis:// or rediss:// URL'],
    [{ BOSUN_DB_URL: 'mysql://db/bosun' }, 'BOSUN_DB_URL', 'BOSUN_DB_URL="mysql://db/bosun": expected a postgres:// or postgresql:// URL'],
    [{ BOSUN_NODE_NAME: 'node b' }, 'BOSUN_NODE_NAME', 'BOSUN_NODE_NAME="node b": expected letters, digits, _ . - (at most 63)'],
    [
      { NODE_MAX_CONCURRENT_AGENTS: '-1' },
      'NODE_MAX_CONCURRENT_AGENTS',
      'NODE_MAX_CONCURRENT_AGENTS="-1": expected an integer from 0 to 10000 (0 = no limit of its own)',
    ],
    [{ BOSUN_NODE_URL: 'node-b:4000' }, 'BOSUN_NODE_URL', 'BOSUN_NODE_URL="node-b:4000": expected an http:// or https:// URL'],
    [{ NODE_LEASE_MS: '999' }, 'NODE_LEASE_MS', 'NODE_LEASE_MS="999": expected an integer from 1000 to 2147483647'],
  ])('refuses %j with one line', (env, variable, message) => {
    const error = configError({ ...CLUSTER, ...env });
    expect(error.variable).toBe(variable);
    expect(error.message).toBe(message);
  });

  it('never shows a URL password in an error', () => {
    const badScheme = configError({ ...CLUSTER, BOSUN_DB_URL: 'mysql://bosun:hunter2@db/bosun' });
    expect(badScheme.message).toBe('BOSUN_DB_URL="mysql://bosun:***@db/bosun": expected a postgres:// or postgresql:// URL');
    const unparsable = configError({ ...CLUSTER, REDIS_URL: 'redis://:hunter2@[bad' });
    expect(unparsable.message).toBe('REDIS_URL="(hidden, 21 characters)": expected a redis:// or rediss:// URL');
  });

  it.each(['BOSUN_NODE_NAME', 'NODE_MAX_CONCURRENT_AGENTS', 'BOSUN_NODE_URL', 'NODE_LEASE_MS'])(
    'refuses %s outside cluster mode instead of ignoring it',
    (variable) => {
      const error = configError({ [variable]: '5000' });
      expect(error.variable).toBe(variable);
      expect(error.message).toBe(`${variable}="5000": expected to be set only in cluster mode, together with REDIS_URL and BOSUN_DB_URL`);
    },
  );
});
