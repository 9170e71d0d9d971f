/**
 * An in-memory {@link LocalExternalRuns} for a test server playing a node that holds runs: files
 * kept as bytes by path, a canned exec outcome, every call recorded, and a failure every call
 * throws while it is set. `exec` of {@link WAIT_FOR_ABORT} runs until its caller goes away.
 */
import { BosunError } from '../../src/errors.js';
import type { AgentRun } from '../../src/runs/agent-run.js';
import type { ExecOptionsInput } from '../../src/runs/external/exec-inputs.js';
import { utf8OrNull } from '../../src/runs/external/external-run-service.js';
import type { FileContent } from '../../src/runs/external/external-runs.js';
import type { ExecOutcome } from '../../src/runs/external/external-session.js';
import type { FileInput } from '../../src/runs/external/file-inputs.js';
import type { LocalExternalRuns } from '../../src/cluster/node-forwarding.js';
import type { ReopenableBytes, SandboxFileInfo } from '../../src/sandbox/sandbox.js';
import { settle } from './fake-async.js';
import type { FakeRunService } from './fake-run-service.js';

/** The command that {@link FakeExternalRuns.exec} runs until its signal aborts. */
export const WAIT_FOR_ABORT = 'wait-for-abort';

export interface RecordedCall {
  readonly method: string;
  readonly runId: string;
  readonly args: readonly unknown[];
}

export class FakeExternalRuns implements LocalExternalRuns {
  readonly calls: RecordedCall[] = [];
  readonly files = new Map<string, Buffer>();
  /** Thrown by every call while set. */
  failure: Error | undefined;
  outcome: ExecOutcome | undefined;
  /** Resolves when an exec of {@link WAIT_FOR_ABORT} has started; `aborted` when its signal then aborted. */
  readonly waiting = deferred<void>();
  readonly aborted = deferred<unknown>();

  constructor(private readonly runs: FakeRunService) {}

  async exec(runId: string, command: string, options?: ExecOptionsInput | null, signal?: AbortSignal): Promise<ExecOutcome> {
    this.record('exec', runId, command, options);
    if (command === WAIT_FOR_ABORT) {
      this.waiting.resolve();
      return new Promise((_resolve, reject) => {
        signal?.addEventListener('abort', () => {
          this.aborted.resolve(signal.reason);
          reject(new BosunError('INVALID_STATE', 'the caller went away'));
        });
      });
    }
    if (this.outcome === undefined) throw new Error('no outcome set');
    return this.outcome;
  }

  writeFiles(runId: string, files: readonly FileInput[]): Promise<SandboxFileInfo[]> {
    return settle(() => {
      this.record('writeFiles', runId, files);
      return files.map((file) => {
        const bytes = typeof file.content === 'string' ? Buffer.from(file.content) : Buffer.from(file.contentBase64 ?? '', 'base64');
        this.files.set(file.path, bytes);
        return { path: file.path, type: 'FILE' as const, sizeBytes: bytes.length, mode: file.mode ?? 0o644 };
      });
    });
  }

  async uploadArchive(runId: string, archive: ReopenableBytes, path: string | null | undefined): Promise<SandboxFileInfo[]> {
    this.record('uploadArchive', runId, path);
    const bytes = Buffer.from(await new Response(archive.stream()).arrayBuffer());
    const target = `${path ?? '/workspace'}/upload.tar`;
    this.files.set(target, bytes);
    return [{ path: target, type: 'FILE', sizeBytes: bytes.length, mode: 0o600 }];
  }

  readFile(runId: string, path: string): Promise<FileContent> {
    return settle(() => {
      this.record('readFile', runId, path);
      const bytes = this.fileAt(path);
      return { path, sizeBytes: bytes.length, content: utf8OrNull(bytes, false), contentBase64: bytes.toString('base64'), truncated: false };
    });
  }

  listFiles(runId: string, path: string): Promise<SandboxFileInfo[]> {
    return settle(() => {
      this.record('listFiles', runId, path);
      return [...this.files]
        .filter(([name]) => name.startsWith(`${path}/`))
        .map(([name, bytes]) => ({ path: name, type: 'FILE' as const, sizeBytes: bytes.length, mode: 0o644 }));
    });
  }

  /** The file's bytes, in chunks of 64 KiB. */
  readArchive(runId: string, path: string): Promise<ReadableStream<Uint8Array>> {
    return settle(() => {
      this.record('readArchive', runId, path);
      const bytes = this.fileAt(path);
      let offset = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= bytes.length) return controller.close();
          controller.enqueue(new Uint8Array(bytes.subarray(offset, offset + 64 * 1024)));
          offset += 64 * 1024;
        },
      });
    });
  }

  async finish(runId: string, exitCode: number, error: string | null | undefined): Promise<AgentRun> {
    this.record('finish', runId, exitCode, error);
    const run = await this.runs.get(runId);
    if (!run) throw new BosunError('NOT_FOUND', `no run ${runId}`);
    return this.runs.seed({ ...run, status: exitCode === 0 ? 'SUCCEEDED' : 'FAILED', exitCode, error: error ?? null });
  }

  /** What `idleSince` answers for every run (default null: a call in flight). */
  idle: Date | null = null;

  idleSince(): Date | null {
    return this.idle;
  }

  private record(method: string, runId: string, ...args: unknown[]): void {
    this.calls.push({ method, runId, args });
    if (this.failure) throw this.failure;
  }

  private fileAt(path: string): Buffer {
    const bytes = this.files.get(path);
    if (!bytes) throw new BosunError('NOT_FOUND', `path: ${path} does not exist`, { field: 'path' });
    return bytes;
  }
}

/** A promise and its resolver (Promise.withResolvers is past the project's lib). */
function deferred<T>(): { readonly promise: Promise<T>; readonly resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}
