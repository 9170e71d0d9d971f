/**
 * A run and a log line as a row of `runs` / `logs`, for every SQL store: the columns, and how an
 * AgentRun maps to them and back. What differs between databases is only how a column holds
 * JSON, an instant and a flag (SQLite: text, epoch milliseconds, 0/1; PostgreSQL: jsonb,
 * timestamptz, boolean), given as a {@link ColumnWriter} / {@link ColumnReader}.
 */
import type { AgentRun, AgentStatus, LogLine, LogStream, StepResult } from '../../runs/agent-run.js';

/** A row of `runs`, with JSON, instants and flags in the form of the database (`Json`, `Time`, `Flag`). */
export interface RunColumns<Json, Time, Flag> {
  id: string;
  status: string;
  group_id: string;
  failure_reason: string | null;
  error: string | null;
  group_json: Json;
  config_json: Json;
  container_id: string | null;
  exit_code: number | null;
  steps_json: Json;
  queued_at: Time;
  started_at: Time | null;
  finished_at: Time | null;
  retry_of: string | null;
  warm_start: Flag;
  node: string | null;
}

/** The columns a new run writes, in the order of every store's INSERT. */
export const RUN_COLUMNS = [
  'id',
  'status',
  'group_id',
  'failure_reason',
  'error',
  'group_json',
  'config_json',
  'container_id',
  'exit_code',
  'steps_json',
  'queued_at',
  'started_at',
  'finished_at',
  'retry_of',
  'warm_start',
  'node',
] as const satisfies ReadonlyArray<keyof RunColumns<unknown, unknown, unknown>>;

/** The columns a run's change may touch (its id first, to find it): a run's group, config and queue time never change. */
export const RUN_CHANGE_COLUMNS = [
  'id',
  'status',
  'failure_reason',
  'error',
  'container_id',
  'exit_code',
  'steps_json',
  'started_at',
  'finished_at',
  'warm_start',
  'node',
] as const satisfies ReadonlyArray<keyof RunColumns<unknown, unknown, unknown>>;

/** How a database's columns hold what AgentRun holds as objects, Dates and booleans. */
export interface ColumnWriter<Json, Time, Flag> {
  json(value: unknown): Json;
  time(at: Date): Time;
  flag(value: boolean): Flag;
}

/** The way back of {@link ColumnWriter}: what the database's driver returns. */
export interface ColumnReader<Json, Time, Flag> {
  json(value: Json): unknown;
  time(value: Time): Date;
  flag(value: Flag): boolean;
}

/** A step as JSON holds it: its instants as ISO strings. */
type StoredStep = Omit<StepResult, 'startedAt' | 'finishedAt'> & { startedAt: string | null; finishedAt: string | null };

export function runToColumns<Json, Time, Flag>(run: AgentRun, write: ColumnWriter<Json, Time, Flag>): RunColumns<Json, Time, Flag> {
  return {
    id: run.id,
    status: run.status,
    group_id: run.group.id,
    failure_reason: run.failureReason,
    error: run.error,
    group_json: write.json(run.group),
    config_json: write.json(run.config),
    container_id: run.containerId,
    exit_code: run.exitCode,
    steps_json: write.json(run.steps),
    queued_at: write.time(run.queuedAt),
    started_at: run.startedAt === null ? null : write.time(run.startedAt),
    finished_at: run.finishedAt === null ? null : write.time(run.finishedAt),
    retry_of: run.retryOf,
    warm_start: write.flag(run.warmStart),
    node: run.node,
  };
}

/** The frozen snapshot a row holds (every store returns the same for the same run). */
export function runFromColumns<Json, Time, Flag>(row: RunColumns<Json, Time, Flag>, read: ColumnReader<Json, Time, Flag>): AgentRun {
  const steps = (read.json(row.steps_json) as StoredStep[]).map((step): StepResult => ({
    ...step,
    startedAt: step.startedAt === null ? null : new Date(step.startedAt),
    finishedAt: step.finishedAt === null ? null : new Date(step.finishedAt),
  }));
  return Object.freeze({
    id: row.id,
    status: row.status as AgentStatus,
    failureReason: row.failure_reason as AgentRun['failureReason'],
    error: row.error,
    group: read.json(row.group_json) as AgentRun['group'],
    config: read.json(row.config_json) as AgentRun['config'],
    containerId: row.container_id,
    exitCode: row.exit_code,
    steps,
    queuedAt: read.time(row.queued_at),
    startedAt: row.started_at === null ? null : read.time(row.started_at),
    finishedAt: row.finished_at === null ? null : read.time(row.finished_at),
    retryOf: row.retry_of,
    warmStart: read.flag(row.warm_start),
    node: row.node,
  });
}

/** A row of `logs`, its instant in the form of the database. */
export interface LogColumns<Time> {
  run_id: string;
  seq: number;
  stream: string;
  step: number | null;
  line: string;
  at: Time;
}

export function logFromColumns<Time>(row: LogColumns<Time>, readTime: (value: Time) => Date): LogLine {
  return Object.freeze({
    runId: row.run_id,
    seq: row.seq,
    stream: row.stream as LogStream,
    step: row.step,
    line: row.line,
    at: readTime(row.at),
  });
}
