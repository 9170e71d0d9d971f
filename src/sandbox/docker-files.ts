/**
 * Files in a sandbox container: write several at once, read one (bytes, up to a cap), list a
 * directory. Everything goes through commands' standard input and output (docker-raw-exec.ts):
 * `/workspace` and `/tmp` are tmpfs mounts under a read-only root, which the engine's archive
 * API does not see. Paths reach the commands as arguments (`"$1"`), never inside the script, and
 * only busybox-level tools are used (sh, tar, stat, find, head), so any image with a shell works.
 */
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import type { ExecTarget } from './docker-exec.js';
import { readAll, startRawExec, type RawExec } from './docker-raw-exec.js';
import { STAT_FORMAT, parseChildStats, parseKnownStats } from './file-stat.js';
import { SandboxError } from './sandbox-errors.js';
import type { FileToWrite, ReadFileOptions, ReadFileResult, SandboxFileInfo } from './sandbox.js';

/** Output of a listing or of the stats after a write, at most (a directory of ~300,000 entries). */
export const STAT_OUTPUT_MAX_BYTES = 32 * 1024 ** 2;
const DEFAULT_FILE_MODE = 0o644;

/** Exit codes the scripts below use for what they found; anything else is a failure of a tool. */
const NOT_FOUND = 3;
const IS_DIRECTORY = 4;
const NOT_A_FILE = 5;
const NOT_READABLE = 6;

const READ_FILE_SCRIPT = [
  'if [ ! -e "$1" ]; then exit 3; elif [ -d "$1" ]; then exit 4; elif [ ! -f "$1" ]; then exit 5; elif [ ! -r "$1" ]; then exit 6; fi',
  'stat -L -c %s "$1" && exec head -c "$2" "$1"',
].join('\n');

/** Prints `D` then a directory's children as `./name`, or `F` then the one record of anything else. */
const LIST_SCRIPT = [
  `if [ -d "$1" ]; then cd "$1" || exit 6; echo D; exec find . -mindepth 1 -maxdepth 1 -exec stat -c '${STAT_FORMAT}' {} +; fi`,
  '[ -e "$1" ] || [ -L "$1" ] || exit 3',
  `echo F; exec stat -c '${STAT_FORMAT}' "$1"`,
].join('\n');

/** Extracts the tar on stdin at `/` (leading directories created, modes kept, owned by the user), then stats the paths. */
const WRITE_SCRIPT = `tar -x -o -f - -C / && exec stat -c '${STAT_FORMAT}' "$@"`;

/** Throws a TypeError unless `path` is absolute, normalised, not `/` and free of NUL bytes. */
export function assertSandboxPath(path: string): void {
  if (!path.startsWith('/') || path === '/' || path.includes('\0') || posix.normalize(path) !== path || path.endsWith('/')) {
    throw new TypeError(`Expected an absolute, normalised path other than /, got ${JSON.stringify(path)}`);
  }
}

/** Standard error of a failed command, for a message. */
export function why(outcome: { exitCode: number; stderr: string }): string {
  return outcome.stderr.trim().replace(/\s+/g, ' ').slice(0, 1000) || `exit code ${outcome.exitCode}`;
}

/** Reads a command's output (bounded) and its outcome. */
async function finish(raw: RawExec, maxBytes: number): Promise<{ output: Buffer; truncated: boolean; exitCode: number; stderr: string }> {
  try {
    const { bytes, truncated } = await readAll(raw, maxBytes);
    const outcome = await raw.done;
    return { output: bytes, truncated, ...outcome };
  } catch (error) {
    // done holds the real reason (an abort, a lost container); reading only saw the stream break.
    await raw.done;
    throw error;
  }
}

/**
 * Writes files in one command: a tar of them extracted at `/` (parents created, modes set,
 * existing files and symlinks replaced, owned by the sandbox's user), then each path described.
 * @throws SandboxError FILE_ERROR when the sandbox refuses (no space, a directory in the way).
 */
export async function writeSandboxFiles(target: ExecTarget, files: readonly FileToWrite[], signal?: AbortSignal): Promise<SandboxFileInfo[]> {
  if (files.length === 0) return [];
  for (const file of files) {
    assertSandboxPath(file.path);
    const mode = file.mode ?? DEFAULT_FILE_MODE;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new TypeError(`Expected a file mode from 0 to 0o7777, got ${mode}`);
  }
  const pack = tar.pack();
  for (const file of files) {
    const content = Buffer.from(file.content.buffer, file.content.byteOffset, file.content.byteLength);
    pack.entry({ name: file.path.slice(1), type: 'file', mode: file.mode ?? DEFAULT_FILE_MODE, size: content.length }, content);
  }
  pack.finalize();
  const paths = files.map((file) => file.path);
  const raw = await startRawExec(target, ['sh', '-c', WRITE_SCRIPT, 'sh', ...paths], {
    stdin: Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false }),
    ...(signal ? { signal } : {}),
  });
  const result = await finish(raw, STAT_OUTPUT_MAX_BYTES);
  if (result.exitCode !== 0) throw new SandboxError('FILE_ERROR', `could not write ${describePaths(paths)} in ${target.name}: ${why(result)}`);
  return parsed(() => parseKnownStats(result.output.toString('utf8'), paths), target);
}

/**
 * Reads up to `maxBytes` of a regular file (a symlink to one is followed).
 * @throws SandboxError FILE_NOT_FOUND when it does not exist, is a directory or not a regular
 *   file; FILE_ERROR when the sandbox's user may not read it.
 */
export async function readSandboxFile(target: ExecTarget, path: string, options: ReadFileOptions): Promise<ReadFileResult> {
  assertSandboxPath(path);
  const { maxBytes, signal } = options;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new TypeError(`Expected maxBytes to be a non-negative integer, got ${maxBytes}`);
  // One byte more than asked for tells a cut file from one of exactly maxBytes, whatever its size said.
  const raw = await startRawExec(target, ['sh', '-c', READ_FILE_SCRIPT, 'sh', path, String(maxBytes + 1)], signal ? { signal } : {});
  const result = await finish(raw, maxBytes + 1 + 32);
  switch (result.exitCode) {
    case 0:
      break;
    case NOT_FOUND:
      throw new SandboxError('FILE_NOT_FOUND', `${path} does not exist`);
    case IS_DIRECTORY:
      throw new SandboxError('FILE_NOT_FOUND', `${path} is a directory, not a file`);
    case NOT_A_FILE:
      throw new SandboxError('FILE_NOT_FOUND', `${path} is not a regular file`);
    case NOT_READABLE:
      throw new SandboxError('FILE_ERROR', `${path} is not readable by the sandbox's user`);
    default:
      throw new SandboxError('FILE_ERROR', `could not read ${path} in ${target.name}: ${why(result)}`);
  }
  const newline = result.output.indexOf(0x0a);
  const statSize = Number(result.output.subarray(0, Math.max(newline, 0)).toString('latin1'));
  if (newline <= 0 || !Number.isSafeInteger(statSize)) throw new SandboxError('DOCKER_ERROR', `unexpected output reading ${path} in ${target.name}`);
  const bytes = result.output.subarray(newline + 1);
  const truncated = bytes.length > maxBytes;
  return {
    path,
    // A file that grew while it was read (or a /proc file, which says 0) is at least what came back.
    sizeBytes: Math.max(statSize, bytes.length),
    content: truncated ? bytes.subarray(0, maxBytes) : bytes,
    truncated,
  };
}

/**
 * The entries directly under a directory (a symlink to one is followed), sorted by path, or the
 * one entry of anything else (a symlink is described, not followed).
 * @throws SandboxError FILE_NOT_FOUND when nothing is there; FILE_ERROR when it cannot be read.
 */
export async function listSandboxFiles(target: ExecTarget, path: string, signal?: AbortSignal): Promise<SandboxFileInfo[]> {
  assertSandboxPath(path);
  const raw = await startRawExec(target, ['sh', '-c', LIST_SCRIPT, 'sh', path], signal ? { signal } : {});
  const result = await finish(raw, STAT_OUTPUT_MAX_BYTES);
  if (result.exitCode === NOT_FOUND) throw new SandboxError('FILE_NOT_FOUND', `${path} does not exist`);
  if (result.exitCode !== 0 || result.truncated) {
    const reason = result.truncated ? `more than ${STAT_OUTPUT_MAX_BYTES} bytes of entries` : why(result);
    throw new SandboxError('FILE_ERROR', `could not list ${path} in ${target.name}: ${reason}`);
  }
  const text = result.output.toString('utf8');
  if (text.startsWith('F\n')) return parsed(() => parseKnownStats(text.slice(2), [path]), target);
  if (!text.startsWith('D\n')) throw new SandboxError('DOCKER_ERROR', `unexpected output listing ${path} in ${target.name}`);
  return parsed(
    () =>
      parseChildStats(text.slice(2))
        .map(({ name, ...record }) => ({ path: posix.join(path, name), ...record }))
        .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    target,
  );
}

/** Runs a parser of a command's output; what it cannot read is a fault of the engine or image, not of the caller. */
export function parsed<T>(parse: () => T, target: ExecTarget): T {
  try {
    return parse();
  } catch (error) {
    throw new SandboxError('DOCKER_ERROR', `unexpected output from ${target.name}: ${(error as Error).message}`, { cause: error });
  }
}

function describePaths(paths: readonly string[]): string {
  return paths.length === 1 ? paths[0]! : `${paths.length} files (${paths[0]}, ...)`;
}
