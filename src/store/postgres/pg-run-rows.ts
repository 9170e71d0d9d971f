/**
 * Runs and log lines as PostgreSQL rows: what the run store writes (positional parameters) and
 * how it reads them back into the same frozen snapshots SqliteRunStore returns.
 */
import type { AgentRun, AgentStatus, LogLine, LogStream, StepResult } from '../../runs/agent-run.js';

/** A row of `runs` as node-postgres returns it (jsonb parsed, timestamptz as Date, bigint as string). */
export interface PgRunRow {
  ord: string;
  id: string;
  status: string;
  group_id: string;
  failure_reason: string | null;
  error: string | null;
  group_json: AgentRun['group'];
  config_json: AgentRun['config'];
  container_id: string | null;
  exit_code: number | null;
  steps_json: Array<Omit<StepResult, 'startedAt' | 'finishedAt'> & { startedAt: string | null; finishedAt: string | null }>;
  queued_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  retry_of: string | null;
  warm_start: boolean;
}

export interface PgLogRow {
  run_id: string;
  seq: number;
  stream: string;
  step: number | null;
  line: string;
  at: Date;
}

/** The columns of `runs` a new run writes, in the order of {@link insertParams}. */
export const RUN_INSERT_SQL = `INSERT INTO runs (id, status, group_id, failure_reason, error, group_json, config_json, container_id,
  exit_code, steps_json, queued_at, started_at, finished_at, retry_of, warm_start)
  VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10::jsonb, $11, $12, $13, $14, $15)`;

export function insertParams(run: AgentRun): unknown[] {
  return [
    run.id,
    run.status,
    run.group.id,
    run.failureReason,
    run.error,
    // jsonb parameters are given as JSON text: node-postgres would send a JS array as a PostgreSQL array.
    JSON.stringify(run.group),
    JSON.stringify(run.config),
    run.containerId,
    run.exitCode,
    JSON.stringify(run.steps),
    run.queuedAt,
    run.startedAt,
    run.finishedAt,
    run.retryOf,
    run.warmStart,
  ];
}

/**
 * Many runs' new snapshots in one statement (the columns a change may touch, as SqliteRunStore
 * updates them): arrays of each column, joined by position.
 */
export const RUN_UPDATE_SQL = `UPDATE runs SET status = u.status, failure_reason = u.failure_reason, error = u.error,
  container_id = u.container_id, exit_code = u.exit_code, steps_json = u.steps_json::jsonb, started_at = u.started_at,
  finished_at = u.finished_at, warm_start = u.warm_start
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::text[], $8::timestamptz[],
    $9::timestamptz[], $10::boolean[])
    AS u(id, status, failure_reason, error, container_id, exit_code, steps_json, started_at, finished_at, warm_start)
  WHERE runs.id = u.id`;

export function updateParams(runs: readonly AgentRun[]): unknown[] {
  return [
    runs.map((run) => run.id),
    runs.map((run) => run.status),
    runs.map((run) => run.failureReason),
    runs.map((run) => run.error),
    runs.map((run) => run.containerId),
    runs.map((run) => run.exitCode),
    runs.map((run) => JSON.stringify(run.steps)),
    runs.map((run) => run.startedAt),
    runs.map((run) => run.finishedAt),
    runs.map((run) => run.warmStart),
  ];
}

/** Many log lines in one statement: arrays of each column, joined by position. */
export const LOG_INSERT_SQL = `INSERT INTO logs (run_id, seq, stream, step, line, at)
  SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::integer[], $5::text[], $6::timestamptz[])`;

export function logParams(lines: readonly LogLine[]): unknown[] {
  return [
    lines.map((l) => l.runId),
    lines.map((l) => l.seq),
    lines.map((l) => l.stream),
    lines.map((l) => l.step),
    lines.map((l) => l.line),
    lines.map((l) => l.at),
  ];
}

export function runFromRow(row: PgRunRow): AgentRun {
  const steps = row.steps_json.map((step): StepResult => ({
    ...step,
    startedAt: step.startedAt === null ? null : new Date(step.startedAt),
    finishedAt: step.finishedAt === null ? null : new Date(step.finishedAt),
  }));
  return Object.freeze({
    id: row.id,
    status: row.status as AgentStatus,
    failureReason: row.failure_reason as AgentRun['failureReason'],
    error: row.error,
    group: row.group_json,
    config: row.config_json,
    containerId: row.container_id,
    exitCode: row.exit_code,
    steps,
    queuedAt: row.queued_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    retryOf: row.retry_of,
    warmStart: row.warm_start,
  });
}

export function logFromRow(row: PgLogRow): LogLine {
  return Object.freeze({
    runId: row.run_id,
    seq: row.seq,
    stream: row.stream as LogStream,
    step: row.step,
    line: row.line,
    at: row.at,
  });
}

/** Snapshots that waited before and after a query: the later one of each run wins. */
export function mergeWaiting(before: ReadonlyMap<string, AgentRun>, after: ReadonlyMap<string, AgentRun>): ReadonlyMap<string, AgentRun> {
  if (before.size === 0) return after;
  if (after.size === 0) return before;
  return new Map([...before, ...after]);
}
