/**
 * The paths an API call on an external run may name: the shared rule of
 * src/sandbox/sandbox-paths.ts (absolute, already normalised, inside `/workspace` or `/tmp`, no
 * NUL bytes), refused as BAD_USER_INPUT naming the call's field (`files[2].path`) and saying what
 * is wrong with it; a file to write or read may not be one of the mounts themselves.
 *
 * This is API hygiene, not the sandbox's boundary: commands run as the sandbox user can read
 * anywhere that user may, and the root file system is read-only whatever path is given.
 */
import { posix } from 'node:path';
import { InvalidValueError, badUserInput } from '../../errors.js';
import { MAX_SANDBOX_PATH_CHARS, SANDBOX_WRITABLE_ROOTS, checkSandboxPath } from '../../sandbox/sandbox-paths.js';

/** Whether the path names a file to create or read (`file`: not a mount itself) or any entry (`entry`). */
export type SandboxPathKind = 'file' | 'entry';

/**
 * Returns `value` when it is an acceptable sandbox path.
 * @param field the argument that gave it (`path`, `files[2].path`), named in the refusal.
 * @param kind `file` refuses the mounts themselves (`/workspace` cannot be written as a file).
 * @throws BosunError BAD_USER_INPUT naming `field`.
 */
export function requireSandboxPath(field: string, value: unknown, kind: SandboxPathKind = 'entry'): string {
  let path: string;
  try {
    path = checkSandboxPath(value);
  } catch (error) {
    if (error instanceof InvalidValueError) throw badUserInput(field, error);
    throw error;
  }
  if (kind === 'file' && SANDBOX_WRITABLE_ROOTS.includes(path)) {
    throw badUserInput(field, new InvalidValueError(`a file inside ${SANDBOX_WRITABLE_ROOTS.join(' or ')}, not a mount itself`, path));
  }
  return path;
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
  if (!ok) {
    throw badUserInput(
      field,
      new InvalidValueError(`an absolute, normalised directory of at most ${MAX_SANDBOX_PATH_CHARS} characters without NUL bytes`, value),
    );
  }
  return value;
}
