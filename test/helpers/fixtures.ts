/**
 * Plain domain objects for tests, with every field filled and any of them overridable.
 */
import type { ResourceThresholds } from '../../src/config.js';
import type { HealthAlert, HealthReport, ResourceSample } from '../../src/monitor/monitor-types.js';
import type { AgentRun, LogLine } from '../../src/runs/agent-run.js';

export const THRESHOLDS: ResourceThresholds = {
  cpuPercentWarning: 70,
  cpuPercentCritical: 90,
  memoryPercentWarning: 70,
  memoryPercentCritical: 90,
  pidsWarning: 800,
  pidsCritical: 950,
  pidsPercentWarning: 80,
  pidsPercentCritical: 95,
  pidsCountAlways: false,
};

export function makeRun(overrides: Partial<AgentRun> & Pick<AgentRun, 'id'>): AgentRun {
  return {
    status: 'QUEUED',
    failureReason: null,
    error: null,
    group: { id: 'group-1', name: 'flaky tests', runIds: ['ci-1'] },
    config: {
      agent: 'shell',
      image: 'bosun-sandbox:latest',
      steps: ['echo hi'],
      env: [],
      limits: { cpus: 1, memoryBytes: 2 * 1024 ** 3, pidsLimit: 1000 },
      timeoutMs: 60_000,
      initialRepoContext: null,
    },
    containerId: null,
    exitCode: null,
    steps: [],
    queuedAt: new Date('2025-01-01T00:00:00.000Z'),
    startedAt: null,
    finishedAt: null,
    retryOf: null,
    warmStart: false,
    node: null,
    ...overrides,
  };
}

export function makeLogLine(overrides: Partial<LogLine> & Pick<LogLine, 'runId' | 'seq'>): LogLine {
  return { stream: 'STDOUT', step: 1, line: `line ${overrides.seq}`, at: new Date(), ...overrides };
}

export function makeSample(overrides: Partial<ResourceSample> = {}): ResourceSample {
  return {
    containerId: 'container-1',
    runId: 'run-1',
    at: new Date('2025-01-01T00:00:01.000Z'),
    cpuPercent: 12.5,
    memoryUsageBytes: 64 * 1024 ** 2,
    memoryLimitBytes: 512 * 1024 ** 2,
    memoryPercent: 12.5,
    pids: 3,
    pidsLimit: 1000,
    ...overrides,
  };
}

export function makeAlert(overrides: Partial<HealthAlert> = {}): HealthAlert {
  return {
    id: 'alert-1',
    level: 'WARNING',
    metric: 'CPU',
    value: 80,
    threshold: 70,
    containerId: 'container-1',
    runId: 'run-1',
    at: new Date('2025-01-01T00:00:02.000Z'),
    message: 'CPU at 80% (warning at 70%)',
    resolvedAt: null,
    ...overrides,
  };
}

export function makeReport(overrides: Partial<HealthReport> = {}): HealthReport {
  return {
    generatedAt: new Date('2025-01-01T00:00:03.000Z'),
    docker: { reachable: true, version: '27.0.0', error: null },
    monitorSource: 'ENGINE_STATS',
    overall: {
      totalContainers: 0,
      healthyContainers: 0,
      warningContainers: 0,
      criticalContainers: 0,
      unhealthyContainers: 0,
      avgCpuPercent: 0,
      avgMemoryPercent: 0,
    },
    containers: [],
    thresholds: THRESHOLDS,
    ...overrides,
  };
}
