/**
 * Checks of arguments that GraphQL's types cannot express: integer ranges, the form of ids, and
 * that an id names a run. Each failure is a BosunError (BAD_USER_INPUT, or NOT_FOUND for a run
 * that does not exist) whose message names the argument and what is expected.
 */
import { BosunError, describeValue } from '../errors.js';
import type { AgentRun } from '../runs/agent-run.js';
import type { RunService } from '../runs/run-service.js';
import { describeIntegerRange, isIntegerInRange, type IntegerRange } from '../shared/validate.js';

/** `agentRuns(limit)`: default and bounds. */
export const RUN_LIST_DEFAULT_LIMIT = 50;
export const RUN_LIST_MAX_LIMIT = 500;
/** `setMaxConcurrency(value)`: 0 = unlimited. */
export const MAX_CONCURRENCY_LIMIT = 10_000;

/**
 * Returns `value` when it is an integer within the range, undefined when it is null/undefined.
 * @throws BosunError BAD_USER_INPUT naming `name`.
 */
export function optionalInteger(name: string, value: number | null | undefined, range: IntegerRange): number | undefined {
  if (value === null || value === undefined) return undefined;
  return requireInteger(name, value, range);
}

/**
 * Returns `value` when it is an integer within the range (the shared check of src/shared/validate.ts).
 * @throws BosunError BAD_USER_INPUT naming `name`: "limit: expected an integer from 1 to 500, got 0".
 */
export function requireInteger(name: string, value: number, range: IntegerRange): number {
  if (!isIntegerInRange(value, range)) {
    throw new BosunError('BAD_USER_INPUT', `${name}: expected ${describeIntegerRange(range)}, got ${describeValue(value)}`, {
      field: name,
    });
  }
  return value;
}

/** `limit` of a list: 1..500, default 50. */
export function listLimit(value: number | null | undefined): number {
  return optionalInteger('limit', value, { min: 1, max: RUN_LIST_MAX_LIMIT }) ?? RUN_LIST_DEFAULT_LIMIT;
}

/** `last`: at least 0, or undefined for "all". */
export function lastCount(value: number | null | undefined): number | undefined {
  return optionalInteger('last', value, { min: 0 });
}

/** `afterSeq`: at least 0, or undefined for "from the start". */
export function afterSeq(value: number | null | undefined): number | undefined {
  return optionalInteger('afterSeq', value, { min: 0 });
}

/** `setMaxConcurrency(value)`: an integer from 0 (unlimited) to 10000. */
export function maxConcurrency(value: number): number {
  return requireInteger('value', value, { min: 0, max: MAX_CONCURRENCY_LIMIT, note: '0 = unlimited' });
}

/** The longest id an argument may be (run ids are UUIDs, container ids 64 hex digits). */
export const MAX_ID_LENGTH = 128;
const ID_PATTERN = new RegExp(`^[\\x21-\\x7e]{1,${MAX_ID_LENGTH}}$`);

/**
 * An `ID` argument: 1 to 128 printable ASCII characters without spaces. Anything else cannot
 * name a run or a container, so it is bad input rather than "not found".
 * @throws BosunError BAD_USER_INPUT naming `name`.
 */
export function requireId(name: string, value: string | number): string {
  const id = String(value);
  if (!ID_PATTERN.test(id)) {
    throw new BosunError(
      'BAD_USER_INPUT',
      `${name}: expected an id of 1 to ${MAX_ID_LENGTH} printable ASCII characters without spaces, got ${describeValue(id)}`,
      { field: name },
    );
  }
  return id;
}

/** {@link requireId} for an optional argument: null and undefined stay null. */
export function optionalId(name: string, value: string | number | null | undefined): string | null {
  return value === null || value === undefined ? null : requireId(name, value);
}

/**
 * The run with `id`.
 * @param argument the argument that named it, for the message (`id`, `agentId`).
 * @throws BosunError NOT_FOUND
 */
export async function requireRun(runs: Pick<RunService, 'get'>, id: string, argument = 'id'): Promise<AgentRun> {
  const run = await runs.get(id);
  if (!run) throw new BosunError('NOT_FOUND', `${argument}: no agent run with id ${JSON.stringify(id)}`, { field: argument });
  return run;
}
