/**
 * Runs and log lines as PostgreSQL rows: what the run store writes (positional parameters) and
 * how it reads them back into the same frozen snapshots SqliteRunStore returns.
 */
import type { AgentRun, LogLine } from '../../runs/agent-run.js';
import {
  logFromColumns,
  RUN_CHANGE_COLUMNS,
  RUN_COLUMNS,
  runFromColumns,
  runToColumns,
  type ColumnReader,
  type ColumnWriter,
  type LogColumns,
  type RunColumns,
} from '../shared/run-rows.js';

/** A row of `runs` as node-postgres returns it (jsonb parsed, timestamptz as Date, bigint as string). */
export type PgRunRow = RunColumns<unknown, Date, boolean> & { ord: string };

export type PgLogRow = LogColumns<Date>;

/** What node-postgres returns needs no conversion back. */
const READ_COLUMNS: ColumnReader<unknown, Date, boolean> = { json: (value) => value, time: (at) => at, flag: (value) => value };
/** jsonb parameters are given as JSON text: node-postgres would send a JS array as a PostgreSQL array. */
const WRITE_COLUMNS: ColumnWriter<string, Date, boolean> = { json: (value) => JSON.stringify(value), time: (at) => at, flag: (value) => value };

/** A new run's INSERT: the columns of RUN_COLUMNS, in its order (see {@link insertParams}). */
export const RUN_INSERT_SQL = `INSERT INTO runs (id, status, group_id, failure_reason, error, group_json, config_json, container_id,
  exit_code, steps_json, queued_at, started_at, finished_at, retry_of, warm_start, node)
  VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10::jsonb, $11, $12, $13, $14, $15, $16)`;

export function insertParams(run: AgentRun): unknown[] {
  const row = runToColumns(run, WRITE_COLUMNS);
  return RUN_COLUMNS.map((column) => row[column]);
}

/**
 * Many runs' new snapshots in one statement (the columns of RUN_CHANGE_COLUMNS, in its order):
 * arrays of each column, joined by position. A run that is final stays as it was recorded: in a
 * cluster a node that was silent past its lease has had its runs ended INTERRUPTED by another
 * node, and what it writes of them once awake (its own end of them) must not replace that.
 */
export const RUN_UPDATE_SQL = `UPDATE runs SET status = u.status, failure_reason = u.failure_reason, error = u.error,
  container_id = u.container_id, exit_code = u.exit_code, steps_json = u.steps_json::jsonb, started_at = u.started_at,
  finished_at = u.finished_at, warm_start = u.warm_start, node = u.node
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::text[], $8::timestamptz[],
    $9::timestamptz[], $10::boolean[], $11::text[])
    AS u(id, status, failure_reason, error, container_id, exit_code, steps_json, started_at, finished_at, warm_start, node)
  WHERE runs.id = u.id AND runs.status NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')`;

/** One array per column of RUN_CHANGE_COLUMNS, in its order. */
export function updateParams(runs: readonly AgentRun[]): unknown[] {
  const rows = runs.map((run) => runToColumns(run, WRITE_COLUMNS));
  return RUN_CHANGE_COLUMNS.map((column) => rows.map((row) => row[column]));
}

/**
 * Many log lines in one statement: arrays of each column, joined by position. A line whose seq is
 * taken already is left out, and the rows written are returned (see PostgresRunStore.writeLogs).
 */
export const LOG_INSERT_SQL = `INSERT INTO logs (run_id, seq, stream, step, line, at)
  SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::integer[], $5::text[], $6::timestamptz[])
  ON CONFLICT (run_id, seq) DO NOTHING RETURNING run_id, seq`;

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
  return runFromColumns(row, READ_COLUMNS);
}

export function logFromRow(row: PgLogRow): LogLine {
  return logFromColumns(row, (at) => at);
}

/** Snapshots that waited before and after a query: the later one of each run wins. */
export function mergeWaiting(before: ReadonlyMap<string, AgentRun>, after: ReadonlyMap<string, AgentRun>): ReadonlyMap<string, AgentRun> {
  if (before.size === 0) return after;
  if (after.size === 0) return before;
  return new Map([...before, ...after]);
}
