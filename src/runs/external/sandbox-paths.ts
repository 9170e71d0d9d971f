/**
 * The paths an API caller may name in a sandbox: absolute, already normalised, inside one of the
 * two writable mounts (`/workspace`, `/tmp`), without NUL bytes. Checked before anything reaches
 * the engine, so that a refusal names the field (`files[2].path`) instead of surfacing as an
 * engine error, and so that a path means exactly what it says (no `..`, `//` or `.` to resolve).
 *
 * This is API hygiene, not the sandbox's boundary: commands run as the sandbox user can read
 * anywhere that user may, and the root file system is read-only whatever path is given.
 */
import { posix } from 'node:path';
import { BosunError, InvalidValueError, badUserInput } from '../../errors.js';
import { SANDBOX_WORKSPACE_DIR } from '../../sandbox/container-config.js';

/** The directories an API path must be in (or be). */
export const SANDBOX_PATH_ROOTS: readonly string[] = Object.freeze([SANDBOX_WORKSPACE_DIR, '/tmp']);

/** Linux's PATH_MAX: a longer path cannot be opened anyway. */
export const MAX_SANDBOX_PATH_CHARS = 4096;

/** Whether the path names a file to create or read (`file`: not a root itself) or any entry (`entry`). */
export type SandboxPathKind = 'file' | 'entry';

const EXPECTED = (kind: SandboxPathKind): string =>
  `an absolute, normalised path ${kind === 'file' ? 'of a file inside' : 'inside (or equal to)'} ${SANDBOX_PATH_ROOTS.join(' or ')}, of at most ${MAX_SANDBOX_PATH_CHARS} characters, without NUL bytes`;

/**
 * Why `value` is not an acceptable sandbox path, or undefined when it is. Pure.
 * @param kind `file` refuses the roots themselves (`/workspace` cannot be written as a file).
 */
export function sandboxPathProblem(value: unknown, kind: SandboxPathKind): string | undefined {
  if (typeof value !== 'string' || value === '') return 'it is empty';
  if (value.length > MAX_SANDBOX_PATH_CHARS) return 'it is too long';
  if (value.includes('\0')) return 'it holds a NUL byte';
  if (!value.startsWith('/')) return 'it is not absolute';
  if (posix.normalize(value) !== value || (value.length > 1 && value.endsWith('/'))) return 'it is not normalised';
  const root = SANDBOX_PATH_ROOTS.find((candidate) => value === candidate || value.startsWith(`${candidate}/`));
  if (root === undefined) return `it is outside ${SANDBOX_PATH_ROOTS.join(' and ')}`;
  if (kind === 'file' && value === root) return 'it names a mount, not a file in it';
  return undefined;
}

/**
 * Returns `value` when it is an acceptable sandbox path.
 * @param field the argument that gave it (`path`, `files[2].path`), named in the refusal.
 * @throws BosunError BAD_USER_INPUT naming `field`.
 */
export function requireSandboxPath(field: string, value: unknown, kind: SandboxPathKind = 'entry'): string {
  const problem = sandboxPathProblem(value, kind);
  if (problem !== undefined) throw refusal(field, `${EXPECTED(kind)} (${problem})`, value);
  return value as string;
}

/**
 * A working directory for a command: absolute and normalised, without NUL bytes, anywhere (a
 * command may `cd` anywhere anyway).
 * @throws BosunError BAD_USER_INPUT naming `field`.
 */
export function requireWorkingDirectory(field: string, value: unknown): string {
  const ok =
    typeof value === 'string' &&
    value.startsWith('/') &&
    value.length <= MAX_SANDBOX_PATH_CHARS &&
    !value.includes('\0') &&
    posix.normalize(value) === value &&
    (value === '/' || !value.endsWith('/'));
  if (!ok) throw refusal(field, `an absolute, normalised directory of at most ${MAX_SANDBOX_PATH_CHARS} characters without NUL bytes`, value);
  return value;
}

function refusal(field: string, expected: string, value: unknown): BosunError {
  return badUserInput(field, new InvalidValueError(expected, value));
}
