/**
 * Every GraphQL operation the page sends, in one place, with the fields each view reads.
 */

const SAMPLE_FIELDS = /* GraphQL */ `
  fragment SampleFields on ResourceSample {
    agentId
    containerId
    at
    cpuPercent
    memoryUsageBytes
    memoryLimitBytes
    memoryPercent
    pids
    pidsLimit
  }
`;

const ALERT_FIELDS = /* GraphQL */ `
  fragment AlertFields on HealthAlert {
    id
    agentId
    containerId
    level
    metric
    message
    value
    threshold
    at
    resolvedAt
  }
`;

const RUN_FIELDS = /* GraphQL */ `
  fragment RunFields on AgentRun {
    id
    agent
    image
    status
    failureReason
    error
    exitCode
    position
    containerId
    queuedAt
    startedAt
    finishedAt
    idleTimeoutMs
    idleSince
    group {
      id
      name
    }
    limits {
      cpus
      memoryBytes
      pidsLimit
    }
    steps {
      index
      command
      exitCode
      startedAt
      finishedAt
    }
    peak {
      cpuPercent
      memoryBytes
      pids
    }
  }
`;

const QUEUE_FIELDS = 'running queued maxConcurrency utilizationPercent paused';

const HEALTH_FIELDS = /* GraphQL */ `
  fragment HealthFields on HealthReport {
    generatedAt
    docker {
      reachable
      version
      error
    }
    thresholds {
      cpuPercentWarning
      cpuPercentCritical
      memoryPercentWarning
      memoryPercentCritical
      pidsWarning
      pidsCritical
    }
    overall {
      totalContainers
      healthyContainers
      warningContainers
      criticalContainers
      avgCpuPercent
      avgMemoryPercent
    }
    containers {
      containerId
      agentId
      name
      level
      checkedAt
      latest {
        ...SampleFields
      }
    }
  }
`;

const ADVICE_FIELDS = 'current recommended canIncrease reason';

/** Samples per chart: five minutes at the default interval of one a second. */
export const CHART_SAMPLES = 600;

/** How many runs the page lists. */
export const RUN_LIST_LIMIT = 50;

/** The state at (re)connection: runs, the running runs' recent samples, health and advice. */
export const SNAPSHOT = /* GraphQL */ `
  query DashboardSnapshot($limit: Int!, $samples: Int!) {
    agentRuns(limit: $limit) { ...RunFields alerts { ...AlertFields } }
    live: agentRuns(status: [RUNNING], limit: 500) { id samples(last: $samples) { ...SampleFields } }
    healthReport { ...HealthFields }
    concurrencyAdvice { ${ADVICE_FIELDS} }
  }
  ${RUN_FIELDS} ${ALERT_FIELDS} ${SAMPLE_FIELDS} ${HEALTH_FIELDS}
`;

/** Health and advice again, after an event that changes them (they have no subscription). */
export const HEALTH_AND_ADVICE = /* GraphQL */ `
  query DashboardHealth {
    healthReport { ...HealthFields }
    concurrencyAdvice { ${ADVICE_FIELDS} }
  }
  ${SAMPLE_FIELDS} ${HEALTH_FIELDS}
`;

/** One run's recorded samples and alerts, when the run is opened. */
export const RUN_HISTORY = /* GraphQL */ `
  query DashboardRunHistory($id: ID!, $samples: Int!) {
    agentRun(id: $id) {
      ...RunFields
      samples(last: $samples) {
        ...SampleFields
      }
      alerts {
        ...AlertFields
      }
    }
  }
  ${RUN_FIELDS}
  ${ALERT_FIELDS}
  ${SAMPLE_FIELDS}
`;

export const QUEUE_STATUS_CHANGED = `subscription DashboardQueue { queueStatusChanged { ${QUEUE_FIELDS} } }`;

export const AGENT_RUN_UPDATED = /* GraphQL */ `
  subscription DashboardRuns {
    agentRunUpdated {
      ...RunFields
    }
  }
  ${RUN_FIELDS}
`;

export const QUEUE_POSITION_CHANGED = /* GraphQL */ `
  subscription DashboardPosition($agentId: ID!) {
    queuePositionChanged(agentId: $agentId) {
      agentId
      position
      status
    }
  }
`;

export const RESOURCE_SAMPLES = /* GraphQL */ `
  subscription DashboardSamples {
    resourceSamples {
      ...SampleFields
    }
  }
  ${SAMPLE_FIELDS}
`;

export const HEALTH_ALERTS = /* GraphQL */ `
  subscription DashboardAlerts($minLevel: HealthLevel!) {
    healthAlerts(minLevel: $minLevel) {
      ...AlertFields
    }
  }
  ${ALERT_FIELDS}
`;

export const AGENT_LOGS = /* GraphQL */ `
  subscription DashboardLogs($agentId: ID!, $afterSeq: Int!) {
    agentLogs(agentId: $agentId, afterSeq: $afterSeq) {
      seq
      at
      stream
      step
      line
    }
  }
`;

export const START_AGENT = /* GraphQL */ `
  mutation DashboardStart($input: StartAgentInput!) {
    startAgent(input: $input) {
      agentId
      queue {
        position
        running
        queued
        maxConcurrency
      }
      run {
        ...RunFields
      }
    }
  }
  ${RUN_FIELDS}
`;

export const CANCEL_AGENT = /* GraphQL */ `
  mutation DashboardCancel($id: ID!) {
    cancelAgent(id: $id) {
      ...RunFields
    }
  }
  ${RUN_FIELDS}
`;

export const SET_MAX_CONCURRENCY = `mutation DashboardMaxConcurrency($value: Int!) { setMaxConcurrency(value: $value) { ${QUEUE_FIELDS} } }`;
