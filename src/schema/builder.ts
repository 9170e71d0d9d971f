/**
 * The Pothos builder: one per schema build (no module-level instance). Object types are named in
 * {@link BosunSchemaTypes} with the domain shape they resolve from, so type files reference each
 * other by name; enums, which Pothos cannot name, are passed around as refs.
 */
import SchemaBuilder from '@pothos/core';
import type { ResourceThresholds } from '../config.js';
import type {
  ConcurrencyAdvice,
  ContainerHealth,
  DockerEngineHealth,
  HealthAlert,
  HealthOverall,
  HealthReport,
  ResourcePeak,
  ResourceSample,
} from '../monitor/monitor-types.js';
import type { QueueStats, QueueTicket } from '../queue/execution-queue.js';
import type { QueuePositionUpdate } from '../resolvers/queue-streams.js';
import type { StartAgentPayload } from '../resolvers/mutations.js';
import type { AgentRun, FailureGroup, LogLine, StepResult } from '../runs/agent-run.js';
import type { SandboxLimits } from '../sandbox/limits.js';
import type { BosunContext } from './context.js';

export interface BosunSchemaTypes {
  Context: BosunContext;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
  };
  Objects: {
    AgentRun: AgentRun;
    FailureGroup: FailureGroup;
    ResourceLimits: SandboxLimits;
    StepResult: StepResult;
    ResourcePeak: ResourcePeak;
    LogLine: LogLine;
    StartAgentPayload: StartAgentPayload;
    QueueTicket: QueueTicket;
    QueueStatus: QueueStats;
    QueuePositionUpdate: QueuePositionUpdate;
    ResourceSample: ResourceSample;
    HealthAlert: HealthAlert;
    ContainerHealth: ContainerHealth;
    HealthOverall: HealthOverall;
    DockerEngineHealth: DockerEngineHealth;
    ResourceThresholds: ResourceThresholds;
    HealthReport: HealthReport;
    ConcurrencyAdvice: ConcurrencyAdvice;
  };
}

export type BosunBuilder = PothosSchemaTypes.SchemaBuilder<PothosSchemaTypes.ExtendDefaultTypes<BosunSchemaTypes>>;

/** A fresh builder; {@link buildSchema} registers every type on it. */
export function createBuilder(): BosunBuilder {
  return new SchemaBuilder<BosunSchemaTypes>({ defaultFieldNullability: false });
}
