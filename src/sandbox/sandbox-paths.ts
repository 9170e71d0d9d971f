/**
 * Which paths of a sandbox a client may name. The root file system is read-only and only the
 * `/workspace` and `/tmp` tmpfs mounts are the run's, so a path from the API must be absolute,
 * already normalised (no `.`, `..`, `//` or trailing `/` for the checker to reinterpret) and
 * inside one of them. Checked before anything reaches the engine.
 */
import { posix } from 'node:path';
import { InvalidValueError } from '../errors.js';
import { SANDBOX_WORKSPACE_DIR } from './container-config.js';

/** The directories of a sandbox that hold a run's files. */
export const SANDBOX_WRITABLE_ROOTS: readonly string[] = Object.freeze([SANDBOX_WORKSPACE_DIR, '/tmp']);
/** Linux's PATH_MAX. */
export const MAX_SANDBOX_PATH_CHARS = 4096;

const EXPECTED = `an absolute, normalised path inside ${SANDBOX_WRITABLE_ROOTS.join(' or ')} (at most ${MAX_SANDBOX_PATH_CHARS} characters, no NUL bytes)`;

/** Whether `path` is `root` itself or lies under it. */
export function isWithin(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : `${root}/`);
}

/**
 * Checks a path named by a client.
 * @throws InvalidValueError when it is not absolute and normalised, or lies outside /workspace and /tmp.
 */
export function checkSandboxPath(path: unknown): string {
  if (
    typeof path !== 'string' ||
    path.length > MAX_SANDBOX_PATH_CHARS ||
    path.includes('\0') ||
    !path.startsWith('/') ||
    posix.normalize(path) !== path ||
    (path.endsWith('/') && path !== '/') ||
    !SANDBOX_WRITABLE_ROOTS.some((root) => isWithin(path, root))
  ) {
    throw new InvalidValueError(EXPECTED, path);
  }
  return path;
}
