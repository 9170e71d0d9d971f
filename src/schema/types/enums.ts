/**
 * The API's enums. Their values are the domain's literal unions, so no mapping is needed.
 */
import type { HealthLevel, ResourceMetric } from '../../monitor/monitor-types.js';
import type { AgentStatus, FailureReason, LogStream } from '../../runs/agent-run.js';
import type { BosunBuilder } from '../builder.js';

const AGENT_STATUSES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'] as const satisfies readonly AgentStatus[];
const FAILURE_REASONS = [
  'NON_ZERO_EXIT',
  'OOM_KILLED',
  'QUEUE_TIMEOUT',
  'RUN_TIMEOUT',
  'SANDBOX_ERROR',
  'INTERRUPTED',
] as const satisfies readonly FailureReason[];
const HEALTH_LEVELS = ['HEALTHY', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const satisfies readonly HealthLevel[];
const RESOURCE_METRICS = ['CPU', 'MEMORY', 'PIDS'] as const satisfies readonly ResourceMetric[];
const LOG_STREAMS = ['STDOUT', 'STDERR', 'SYSTEM'] as const satisfies readonly LogStream[];

export function addEnums(builder: BosunBuilder) {
  return {
    AgentStatus: builder.enumType('AgentStatus', {
      description: 'Where a run stands. SUCCEEDED, FAILED, CANCELLED and TIMED_OUT are final.',
      values: AGENT_STATUSES,
    }),
    FailureReason: builder.enumType('FailureReason', {
      description: 'Why a run did not succeed.',
      values: FAILURE_REASONS,
    }),
    HealthLevel: builder.enumType('HealthLevel', { values: HEALTH_LEVELS }),
    ResourceMetric: builder.enumType('ResourceMetric', { values: RESOURCE_METRICS }),
    LogStream: builder.enumType('LogStream', {
      description: 'Where a log line came from: the sandbox process, or bosun itself (SYSTEM).',
      values: LOG_STREAMS,
    }),
  };
}

/** The enum refs, for the type files that use them. */
export type BosunEnums = ReturnType<typeof addEnums>;
