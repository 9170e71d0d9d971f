/**
 * The fake sandbox as the external-run tests script it, over fake-sandbox.ts: raw output chunks
 * (`onData`) beside the lines, per-command timeouts for commands that hang, commands or file
 * calls held open by a gate or failing once, and file calls on a flat in-memory map whose
 * archive calls answer what the test says (the fake's own file system, and the archive checker
 * behind it, are tested with the sandbox). Attached to every sandbox a provider creates by
 * {@link withFileCalls}.
 */
import { SandboxError } from '../../src/sandbox/sandbox-errors.js';
import type {
  ExecOptions,
  ExecResult,
  ExtractArchiveOptions,
  FileToWrite,
  ReadFileOptions,
  ReadFileResult,
  ReopenableBytes,
  SandboxFileInfo,
} from '../../src/sandbox/sandbox.js';
import type { FakeSandbox, FakeSandboxProvider, Gate } from './fake-sandbox.js';

export interface FakeFileCalls {
  /** Commands (by exact text) held until their gate opens. */
  readonly heldCommands: Map<string, Gate>;
  /** When set, every file call waits for it (honouring its signal). */
  fileGate: Gate | undefined;
  /** When set, the next file call rejects with it (once). */
  fileError: Error | undefined;
  /** What extractArchive answers (its top-level entries). */
  extracted: SandboxFileInfo[];
  /** Bytes readArchive streams, in chunks. */
  archiveChunks: Uint8Array[];
  /** Archives given to extractArchive. */
  readonly archives: Array<{ readonly path: string; readonly archive: ReopenableBytes; readonly options: ExtractArchiveOptions }>;
}

const info = (path: string, sizeBytes: number, mode = 0o644): SandboxFileInfo => ({ path, type: 'FILE', sizeBytes, mode });

/** Gives every sandbox that `provider` creates the file calls; returns their shared controls. */
export function withFileCalls(provider: FakeSandboxProvider): FakeFileCalls {
  const calls: FakeFileCalls = {
    heldCommands: new Map(),
    fileGate: undefined,
    fileError: undefined,
    extracted: [],
    archiveChunks: [],
    archives: [],
  };
  const fileCall = async <T>(sandbox: FakeSandbox, signal: AbortSignal | undefined, body: () => T): Promise<T> => {
    signal?.throwIfAborted();
    if (provider.engineLost) throw provider.engineError('reach a file');
    if (sandbox.stopped) throw new SandboxError('CONTAINER_GONE', `${sandbox.id} is not running`);
    if (calls.fileGate) await waitFor(calls.fileGate, signal);
    const error = calls.fileError;
    if (error) {
      calls.fileError = undefined;
      throw error;
    }
    return body();
  };
  const previous = provider.onCreate;
  provider.onCreate = (sandbox) => {
    previous?.(sandbox);
    const exec = sandbox.exec.bind(sandbox);
    const files = sandbox.files;
    Object.assign(sandbox, {
      async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
        const gate = calls.heldCommands.get(command);
        if (gate) await waitFor(gate, options.signal);
        const onData = options.onData;
        const withData: ExecOptions = {
          ...options,
          onOutput: (stream, line) => {
            options.onOutput?.(stream, line);
            onData?.(stream, Buffer.from(`${line}\n`));
          },
        };
        if (options.timeoutMs === undefined || !provider.scriptFor(command).hang) return exec(command, withData);
        // A command that hangs is ended by its timeout, as the Docker sandbox ends it.
        const timeout = new AbortController();
        const timer = setTimeout(() => timeout.abort(), options.timeoutMs);
        try {
          return await exec(command, { ...withData, signal: options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal });
        } catch (error) {
          if (timeout.signal.aborted && !options.signal?.aborted) return { exitCode: 143, timedOut: true };
          throw error;
        } finally {
          clearTimeout(timer);
        }
      },
      writeFiles: (toWrite: readonly FileToWrite[], signal?: AbortSignal) =>
        fileCall(sandbox, signal, () =>
          toWrite.map((file) => {
            files.set(file.path, file.content);
            return info(file.path, file.content.length, file.mode);
          }),
        ),
      readFile: (path: string, options: ReadFileOptions) =>
        fileCall(sandbox, options.signal, (): ReadFileResult => {
          const content = files.get(path);
          if (content === undefined) throw new SandboxError('FILE_NOT_FOUND', `${path}: no such file`);
          const bytes = typeof content === 'string' ? Buffer.from(content) : Buffer.from(content);
          return { path, sizeBytes: bytes.length, content: bytes.subarray(0, options.maxBytes), truncated: bytes.length > options.maxBytes };
        }),
      listFiles: (path: string, signal?: AbortSignal) =>
        fileCall(sandbox, signal, () => {
          const entries = [...files.entries()].filter(([name]) => name.startsWith(`${path}/`));
          if (entries.length === 0 && !files.has(path)) throw new SandboxError('FILE_NOT_FOUND', `${path}: no such file or directory`);
          return entries.map(([name, content]) => info(name, content.length));
        }),
      extractArchive: (path: string, archive: ReopenableBytes, options: ExtractArchiveOptions) =>
        fileCall(sandbox, options.signal, () => {
          calls.archives.push({ path, archive, options });
          return calls.extracted;
        }),
      readArchive: (path: string, signal?: AbortSignal) =>
        fileCall(sandbox, signal, () => {
          const chunks = [...calls.archiveChunks];
          return new ReadableStream<Uint8Array>({
            pull(controller) {
              const next = chunks.shift();
              if (next === undefined) controller.close();
              else controller.enqueue(next);
            },
          });
        }),
    });
  };
  return calls;
}

function waitFor(gate: Gate, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(signal!.reason as Error);
    signal?.addEventListener('abort', onAbort, { once: true });
    void gate.opened.then(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
