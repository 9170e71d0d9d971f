/**
 * Archives in and out of a sandbox container, through commands' standard input and output (the
 * engine's archive API does not see the tmpfs mounts): an upload is checked whole, then a tar
 * written afresh from its checked entries is extracted (archive.ts); a path goes out as a tar
 * stream read from the sandbox only as fast as its reader takes it.
 */
import { posix } from 'node:path';
import { canonicalTar, checkArchive } from './archive.js';
import type { ExecTarget } from './docker-exec.js';
import { STAT_OUTPUT_MAX_BYTES, assertSandboxPath, parsed, why } from './docker-files.js';
import { readAll, startRawExec, type RawExecOutcome } from './docker-raw-exec.js';
import { STAT_FORMAT, parseChildStats } from './file-stat.js';
import { SandboxError } from './sandbox-errors.js';
import type { ExtractArchiveOptions, ReopenableBytes, SandboxFileInfo } from './sandbox.js';

const NOT_FOUND = 3;

/** Extracts the tar on stdin into "$1" (created), then describes what is directly under it. */
const EXTRACT_SCRIPT = `mkdir -p "$1" && tar -x -o -f - -C "$1" && cd "$1" && exec find . -mindepth 1 -maxdepth 1 -exec stat -c '${STAT_FORMAT}' {} +`;

/** A tar of "$1" named by its base name, on stdout; exit 3 when nothing is there. */
const READ_ARCHIVE_SCRIPT = ['[ -e "$1" ] || [ -L "$1" ] || exit 3', 'd="${1%/*}"', 'cd "${d:-/}" && exec tar -c -f - -- "${1##*/}"'].join('\n');

/**
 * Checks an archive whole, then extracts it into `path` and describes its top-level entries.
 * @throws SandboxError ARCHIVE_REFUSED (nothing extracted), FILE_ERROR when the sandbox's tar
 *   fails (no space left: what was extracted so far stays), or the signal's reason.
 */
export async function extractSandboxArchive(
  target: ExecTarget,
  path: string,
  archive: ReopenableBytes,
  options: ExtractArchiveOptions,
): Promise<SandboxFileInfo[]> {
  assertSandboxPath(path);
  const { signal } = options;
  const checked = await checkArchive(archive, { destination: path, maxBytes: options.maxBytes, ...(signal ? { signal } : {}) });
  const stdin = canonicalTar(archive, checked, options);
  const raw = await startRawExec(target, ['sh', '-c', EXTRACT_SCRIPT, 'sh', path], { stdin, ...(signal ? { signal } : {}) }).catch(
    (error: unknown) => {
      stdin.destroy();
      throw error;
    },
  );
  let listing: Buffer = Buffer.alloc(0);
  let readError: Error | undefined;
  try {
    ({ bytes: listing } = await readAll(raw, STAT_OUTPUT_MAX_BYTES));
  } catch (error) {
    readError = error as Error;
  }
  // done holds the real reason when reading broke (an abort, the archive changed, a lost container).
  const outcome = await raw.done;
  if (outcome.exitCode !== 0) throw new SandboxError('FILE_ERROR', `could not extract the archive into ${path} in ${target.name}: ${why(outcome)}`);
  if (readError !== undefined) throw readError;
  const topLevel = new Set(checked.topLevel);
  return parsed(
    () =>
      parseChildStats(listing.toString('utf8'))
        .filter((entry) => topLevel.has(entry.name))
        .map(({ name, ...record }) => ({ path: posix.join(path, name), ...record }))
        .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    target,
  );
}

/**
 * A tar stream of `path` (a file or a directory, named by its base name), produced as it is read:
 * backpressure reaches the sandbox's tar, cancelling kills it, and a tar that fails midway errors
 * the stream (FILE_ERROR) rather than ending it as if complete.
 * @throws SandboxError FILE_NOT_FOUND when nothing is at `path`.
 */
export async function readSandboxArchive(target: ExecTarget, path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  assertSandboxPath(path);
  const raw = await startRawExec(target, ['sh', '-c', READ_ARCHIVE_SCRIPT, 'sh', path], signal ? { signal } : {});
  const chunks = raw.stdout[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const failed = (outcome: RawExecOutcome) => new SandboxError('FILE_ERROR', `could not archive ${path} in ${target.name}: ${why(outcome)}`);
  const next = async (): Promise<IteratorResult<Buffer>> => {
    try {
      return await chunks.next();
    } catch (error) {
      // done holds the real reason when reading broke (an abort, a lost container).
      await raw.done;
      throw error;
    }
  };
  // A tar of anything holds at least one 512-byte block: no first chunk means the path was missing.
  const first = await next();
  if (first.done) {
    const outcome = await raw.done;
    if (outcome.exitCode === NOT_FOUND) throw new SandboxError('FILE_NOT_FOUND', `${path} does not exist`);
    throw failed(outcome);
  }
  let pending: Buffer | undefined = first.value;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (pending !== undefined) {
          controller.enqueue(new Uint8Array(pending.buffer, pending.byteOffset, pending.byteLength));
          pending = undefined;
          return;
        }
        const chunk = await next();
        if (!chunk.done) {
          controller.enqueue(new Uint8Array(chunk.value.buffer, chunk.value.byteOffset, chunk.value.byteLength));
          return;
        }
        const outcome = await raw.done;
        if (outcome.exitCode === 0) controller.close();
        else controller.error(failed(outcome));
      },
      async cancel() {
        await raw.kill();
      },
    },
    // One chunk ahead at most: the rest waits in the sandbox.
    { highWaterMark: 0 },
  );
}
