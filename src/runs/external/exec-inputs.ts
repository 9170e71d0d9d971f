/**
 * `exec`'s input, checked before the command runs: the command itself, and its options (working
 * directory, extra environment, timeout, standard input) with their defaults. A refusal is
 * BAD_USER_INPUT naming the field (`options.env[1].name`). Pure.
 */
import { BosunError, InvalidValueError, badUserInput } from '../../errors.js';
import { SANDBOX_WORKSPACE_DIR } from '../../sandbox/container-config.js';
import { MAX_TIMER_DELAY_MS } from '../../shared/constants.js';
import { isIntegerInRange } from '../../shared/validate.js';
import type { EnvVar } from '../agent-run.js';
import { RESERVED_ENV_PREFIX } from '../start-input.js';
import { requireWorkingDirectory } from './sandbox-paths.js';

/** How long a command may run when its call names no timeout. */
export const DEFAULT_EXEC_TIMEOUT_MS = 60_000;
/** The longest command (as a step of the shell agent may be). */
export const MAX_COMMAND_CHARS = 64 * 1024;
const MAX_ENV_VARS = 256;
const MAX_ENV_VALUE_CHARS = 64 * 1024;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The longest `error` a finishing agent may give. */
export const MAX_FINISH_ERROR_CHARS = 4096;

/** `ExecOptionsInput` as the API receives it. */
export interface ExecOptionsInput {
  readonly cwd?: string | null;
  readonly env?: readonly EnvVar[] | null;
  readonly timeoutMs?: number | null;
  readonly stdin?: string | null;
}

/** A command ready to run, every default applied. */
export interface ExecRequest {
  readonly command: string;
  readonly cwd: string;
  /** Added to the run's environment for this command. */
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly stdin: string | undefined;
}

/**
 * Checks a command and its options and applies the defaults: cwd `/workspace`, no extra
 * environment, a timeout of {@link DEFAULT_EXEC_TIMEOUT_MS}.
 * @throws BosunError BAD_USER_INPUT naming the first bad field.
 */
export function resolveExecInput(command: string, options: ExecOptionsInput | null | undefined): ExecRequest {
  if (command.trim() === '' || command.length > MAX_COMMAND_CHARS || command.includes('\0')) {
    throw badUserInput('command', new InvalidValueError(`a shell command of at most ${MAX_COMMAND_CHARS} characters without NUL bytes`, command));
  }
  const cwd = options?.cwd === null || options?.cwd === undefined ? SANDBOX_WORKSPACE_DIR : requireWorkingDirectory('options.cwd', options.cwd);
  const timeoutMs = options?.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  if (!isIntegerInRange(timeoutMs, { min: 1, max: MAX_TIMER_DELAY_MS })) {
    throw badUserInput('options.timeoutMs', new InvalidValueError(`milliseconds, an integer from 1 to ${MAX_TIMER_DELAY_MS}`, timeoutMs));
  }
  const variables = options?.env ?? [];
  if (variables.length > MAX_ENV_VARS) {
    throw badUserInput('options.env', new InvalidValueError(`at most ${MAX_ENV_VARS} variables`, `${variables.length} variables`));
  }
  const env: Record<string, string> = {};
  variables.forEach((variable, index) => {
    const field = `options.env[${index}]`;
    if (!ENV_NAME.test(variable.name)) {
      throw badUserInput(
        `${field}.name`,
        new InvalidValueError('a POSIX variable name (letters, digits and _, not starting with a digit)', variable.name),
      );
    }
    if (variable.name.startsWith(RESERVED_ENV_PREFIX)) {
      throw badUserInput(
        `${field}.name`,
        new InvalidValueError(`a name that does not start with ${RESERVED_ENV_PREFIX} (bosun sets those)`, variable.name),
      );
    }
    if (Object.hasOwn(env, variable.name)) throw badUserInput(`${field}.name`, new InvalidValueError('each name at most once', variable.name));
    if (variable.value.length > MAX_ENV_VALUE_CHARS || variable.value.includes('\0')) {
      throw badUserInput(
        `${field}.value`,
        new InvalidValueError(`a value of at most ${MAX_ENV_VALUE_CHARS} characters without NUL bytes`, variable.value),
      );
    }
    env[variable.name] = variable.value;
  });
  return { command, cwd, env, timeoutMs, stdin: options?.stdin ?? undefined };
}

/**
 * `finishAgent`'s exit code and error: an exit code from 0 to 255, an error of at most 4096
 * characters without NUL bytes.
 * @throws BosunError BAD_USER_INPUT naming the field.
 */
export function resolveFinishInput(exitCode: number, error: string | null | undefined): { exitCode: number; error: string | null } {
  if (!isIntegerInRange(exitCode, { min: 0, max: 255 })) {
    throw badUserInput('exitCode', new InvalidValueError('an exit code, an integer from 0 to 255', exitCode));
  }
  if (error !== null && error !== undefined && (error.length > MAX_FINISH_ERROR_CHARS || error.includes('\0'))) {
    throw new BosunError('BAD_USER_INPUT', `error: expected at most ${MAX_FINISH_ERROR_CHARS} characters without NUL bytes`, { field: 'error' });
  }
  return { exitCode, error: error ?? null };
}
