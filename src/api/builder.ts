/**
 * The Pothos builder: one per schema build (no module-level instance). The domain object types are
 * named in {@link BosunSchemaTypes} with the shape they resolve from, so the domain modules
 * (runs.ts, queue.ts, monitor.ts) reference each other's types by name without importing each
 * other. Enums, which Pothos cannot name, and the API's own reply shapes are refs that stay in the
 * module that defines them (AgentStatus, the one enum two modules share, is handed over by
 * build-schema.ts).
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
import type { AgentRun, FailureGroup, LogLine, StepResult } from '../runs/agent-run.js';
import type { SandboxLimits } from '../sandbox/limits.js';
import type { ReopenableBytes } from '../sandbox/sandbox.js';
import type { BosunContext } from './context.js';

export interface BosunSchemaTypes {
  Context: BosunContext;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    /** An upload (the GraphQL multipart request spec); input only. */
    File: { Input: ReopenableBytes; Output: never };
  };
  Objects: {
    AgentRun: AgentRun;
    FailureGroup: FailureGroup;
    ResourceLimits: SandboxLimits;
    StepResult: StepResult;
    ResourcePeak: ResourcePeak;
    LogLine: LogLine;
    QueueTicket: QueueTicket;
    QueueStatus: QueueStats;
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
