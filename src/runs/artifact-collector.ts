/**
 * Copies a run's artifacts out of its sandbox when the run ends, before the sandbox is removed:
 * each path of `config.artifacts` is read as a tar stream (`Sandbox.readArchive`), and each
 * regular file in it is stored as one {@link Artifact} under its full sandbox path.
 *
 * The collection is bounded, and can never change the run's outcome:
 * - in bytes: at most `maxBytesPerRun` for the whole run, counted as the files stream; the
 *   first file that does not fit stops the collection, and what was stored before it stays;
 * - in time: its own deadline ({@link ARTIFACT_COLLECTION_TIMEOUT_MS}), not the run's, so that a
 *   cancelled or timed-out run still keeps its artifacts;
 * - in faults: a missing path is a SYSTEM line and the next path is read; any other fault (the
 *   container or engine gone, a full disk) is a SYSTEM line and ends the collection.
 * Symbolic links, hard links, devices and directories are not files: they are skipped (a link
 * is never followed), and the SYSTEM line counts them.
 */
import { posix } from 'node:path';
import tar, { type Extract } from 'tar-stream';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { formatMemory } from '../sandbox/limits.js';
import type { Sandbox } from '../sandbox/sandbox.js';
import { SandboxError } from '../sandbox/sandbox-errors.js';
import { isWithin } from '../sandbox/sandbox-paths.js';
import { withDeadline } from '../shared/deadline.js';
import { ArtifactTooLargeError, type ArtifactStore } from './artifact-store.js';

/** How long copying one run's artifacts may take. */
export const ARTIFACT_COLLECTION_TIMEOUT_MS = 60_000;

/** One run's artifacts to copy out. */
export interface ArtifactRequest {
  readonly runId: string;
  /** Absolute, normalised paths (checked at admission); files or directories. */
  readonly paths: readonly string[];
  readonly sandbox: Pick<Sandbox, 'readArchive'>;
  /** Writes a SYSTEM line in the run's log. */
  readonly log: (message: string) => void;
}

export interface ArtifactCollectorOptions {
  readonly store: Pick<ArtifactStore, 'save'>;
  /** Bytes kept per run at most (ARTIFACT_BYTES_PER_RUN). */
  readonly maxBytesPerRun: number;
  /** Default {@link ARTIFACT_COLLECTION_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  readonly logger: Pick<Logger, 'warn'>;
}

/** What one run's collection has kept so far. */
interface Collected {
  /** Full paths stored, so that overlapping paths (a directory and a file in it) store a file once. */
  readonly paths: Set<string>;
  bytes: number;
}

/** Ends the whole collection; its message is the run's SYSTEM line. */
class StopCollecting extends Error {}

export class ArtifactCollector {
  private readonly timeoutMs: number;

  constructor(private readonly options: ArtifactCollectorOptions) {
    this.timeoutMs = options.timeoutMs ?? ARTIFACT_COLLECTION_TIMEOUT_MS;
  }

  /** Copies the request's paths out of its sandbox. Never rejects: every fault is a SYSTEM line. */
  async collect(request: ArtifactRequest): Promise<void> {
    if (request.paths.length === 0) return;
    const collected: Collected = { paths: new Set(), bytes: 0 };
    try {
      await withDeadline(
        async (signal) => {
          for (const path of request.paths) await this.collectPath(request, path, collected, signal);
        },
        { timeoutMs: this.timeoutMs, onTimeout: () => new StopCollecting(`collection stopped after its deadline of ${this.timeoutMs} ms`) },
      );
    } catch (error) {
      const reason = error instanceof StopCollecting ? error.message : `collection failed: ${errorMessage(error)}`;
      if (!(error instanceof StopCollecting)) this.options.logger.warn({ runId: request.runId, err: error }, 'artifact collection failed');
      request.log(`artifacts: ${reason}; ${collected.paths.size} file(s) (${collected.bytes} bytes) were kept before it`);
    }
  }

  private async collectPath(request: ArtifactRequest, path: string, collected: Collected, signal: AbortSignal): Promise<void> {
    let archive: ReadableStream<Uint8Array>;
    try {
      archive = await request.sandbox.readArchive(path, signal);
    } catch (error) {
      if (error instanceof SandboxError && error.code === 'FILE_NOT_FOUND') {
        request.log(`artifacts: ${path} does not exist in the sandbox; nothing kept for it`);
        return;
      }
      if (signal.aborted) throw error;
      throw new StopCollecting(`could not read ${path} from the sandbox (${errorMessage(error)})`);
    }
    const extract = tar.extract();
    const feeder = feed(archive, extract);
    const skipped = new Map<string, number>();
    let files = 0;
    let bytes = 0;
    /** Files kept already from an earlier, overlapping path. */
    let already = 0;
    try {
      for await (const entry of extract) {
        const { header } = entry;
        const type = header.type ?? 'file';
        const fullPath = entryPath(path, header.name);
        const skip = fullPath === undefined ? 'outside the path' : type === 'file' || type === 'contiguous-file' ? undefined : type;
        if (fullPath === undefined || skip !== undefined || collected.paths.has(fullPath)) {
          // Directories are how files are named, not entries to report.
          if (skip !== undefined && skip !== 'directory') skipped.set(skip, (skipped.get(skip) ?? 0) + 1);
          if (skip === undefined) already += 1;
          entry.resume();
          continue;
        }
        const left = this.options.maxBytesPerRun - collected.bytes;
        const over = () =>
          new StopCollecting(
            `stopped at ARTIFACT_BYTES_PER_RUN (${formatMemory(this.options.maxBytesPerRun)}): ${fullPath} (${header.size ?? 0} bytes) ` +
              `did not fit in the ${left} bytes left, so it and what follows were not kept`,
          );
        if ((header.size ?? 0) > left) throw over();
        try {
          // The parser yields Buffers; its types say `unknown` for any stream's chunks.
          const content = entry as AsyncIterable<Uint8Array>;
          const artifact = await this.options.store.save(request.runId, fullPath, content, { maxBytes: left, signal });
          collected.paths.add(fullPath);
          collected.bytes += artifact.sizeBytes;
          files += 1;
          bytes += artifact.sizeBytes;
        } catch (error) {
          if (error instanceof ArtifactTooLargeError) throw over();
          if (signal.aborted) throw error;
          this.options.logger.warn({ runId: request.runId, path: fullPath, err: error }, 'an artifact could not be stored');
          throw new StopCollecting(`could not store ${fullPath} (${errorMessage(error)})`);
        }
      }
    } catch (error) {
      if (error instanceof StopCollecting || signal.aborted) throw error;
      throw new StopCollecting(`could not read the archive of ${path} (${errorMessage(error)})`);
    } finally {
      extract.destroy();
      await feeder.stop();
      // Past the deadline the run may be final already: the deadline's own line says what happened.
      if (!signal.aborted && (files > 0 || already > 0 || skipped.size > 0)) {
        const earlier = already > 0 ? `; ${already} file(s) in it were kept from an earlier path` : '';
        request.log(`artifacts: kept ${files} file(s) (${bytes} bytes) from ${path}${earlier}${describeSkipped(skipped)}`);
      }
    }
    if (files === 0 && already === 0 && skipped.size === 0) request.log(`artifacts: ${path} holds no regular file; nothing kept for it`);
  }
}

/**
 * The full sandbox path of an archive entry. The archive names entries after the requested
 * path's base name (`out/fix.patch` for `/workspace/out`); an entry that would resolve outside
 * the requested path is not taken (undefined).
 */
function entryPath(requested: string, name: string): string | undefined {
  const full = posix.normalize(posix.join(posix.dirname(requested), name)).replace(/\/+$/, '');
  return isWithin(full, requested) ? full : undefined;
}

function describeSkipped(skipped: ReadonlyMap<string, number>): string {
  if (skipped.size === 0) return '';
  const total = [...skipped.values()].reduce((sum, n) => sum + n, 0);
  const kinds = [...skipped].map(([kind, n]) => `${kind}: ${n}`).join(', ');
  return `; skipped ${total} entr${total === 1 ? 'y' : 'ies'} (${kinds}): only regular files inside the path are kept`;
}

interface Feeder {
  /** Stops reading the archive (releasing the engine's stream) and resolves once the pump has ended. */
  stop(): Promise<void>;
}

/**
 * Pumps a web stream into the tar parser, with backpressure, until the stream ends or the parser
 * is closed (the reader stopped early). A read error destroys the parser with it, so that the
 * reading loop sees it. Never rejects.
 */
function feed(source: ReadableStream<Uint8Array>, extract: Extract): Feeder {
  const reader = source.getReader();
  let closed = false;
  const cancel = () => reader.cancel().catch(() => undefined);
  extract.on('close', () => {
    closed = true;
    void cancel();
  });
  const pumped = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (closed) return;
        if (done) {
          extract.end(null);
          return;
        }
        if (!extract.write(value) && !closed) {
          await new Promise<void>((resolve) => {
            const resume = () => {
              extract.off('drain', resume);
              extract.off('close', resume);
              resolve();
            };
            extract.on('drain', resume);
            extract.on('close', resume);
          });
        }
      }
    } catch (error) {
      if (!closed) extract.destroy(error as Error);
    }
  })();
  return {
    stop: async () => {
      await cancel();
      await pumped;
    },
  };
}
