/**
 * One external run's live session, from the end of its set-up steps to its end: the calls that
 * the API makes on its sandbox (commands as the run's steps, file operations), and the rules
 * around them.
 * - At most {@link MAX_CONCURRENT_EXECS} commands and {@link MAX_CONCURRENT_FILE_CALLS} file
 *   calls run at once; one more is refused RATE_LIMITED (nothing queues, so nothing piles up).
 * - Idleness: once no call has been in flight for `idleTimeoutMs`, the session ends `idle`.
 *   A call in flight (a download included, until its stream ends) holds the timer off.
 * - It ends once: `finish` (the agent says it is done), idle, or a fault of the sandbox under a
 *   call. Calls in flight then stop, and answer with an error that says why; later calls are
 *   refused INVALID_STATE.
 * - An error of a call says what happened in the API's terms: the run's stop (cancel, deadline,
 *   shutdown), a missing file, a refused archive, a sandbox fault.
 *
 * The session owns its idle timer and the signal of its calls; {@link ExternalSession.close}
 * releases both. It reaches the sandbox only through the run's {@link AgentContext}, so that
 * every command is a recorded step within the run's log budget.
 */
import { BosunError, errorMessage, isBosunError } from '../../errors.js';
import type { AgentContext } from '../agent.js';
import type { StepResult } from '../agent-run.js';
import { RunStopped } from '../run-executor.js';
import type { ReadFileResult, ReopenableBytes, SandboxFileInfo, FileToWrite } from '../../sandbox/sandbox.js';
import { SandboxError } from '../../sandbox/sandbox-errors.js';
import type { ExecRequest } from './exec-inputs.js';

const MiB = 1024 * 1024;
/** Commands one run may have running at once. */
export const MAX_CONCURRENT_EXECS = 8;
/** File calls (writes, reads, lists, uploads, downloads) one run may have in flight at once. */
export const MAX_CONCURRENT_FILE_CALLS = 8;
/** Each of a command's streams comes back whole up to this, else its last this-many bytes. */
export const EXEC_OUTPUT_BYTES = MiB;

/** How a session ended. */
export type SessionEnding =
  | { readonly kind: 'finished'; readonly exitCode: number; readonly error: string | null }
  | { readonly kind: 'idle'; readonly idleTimeoutMs: number }
  | { readonly kind: 'failed'; readonly error: unknown };

/** What `exec` answers. */
export interface ExecOutcome {
  readonly step: StepResult;
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly truncated: boolean;
  readonly timedOut: boolean;
  readonly durationMs: number;
}

export interface ExternalSessionOptions {
  readonly context: AgentContext;
  readonly idleTimeoutMs: number;
  /** Default {@link MAX_CONCURRENT_EXECS}. */
  readonly maxConcurrentExecs?: number;
  /** Default {@link MAX_CONCURRENT_FILE_CALLS}. */
  readonly maxConcurrentFileCalls?: number;
  /** Default {@link EXEC_OUTPUT_BYTES}. */
  readonly outputBytes?: number;
}

type CallKind = 'exec' | 'file';

export class ExternalSession {
  /** Settles (never rejects) when the session ends. */
  readonly ended: Promise<SessionEnding>;
  private settle!: (ending: SessionEnding) => void;
  private ending: SessionEnding | undefined;
  /** Aborted when the session ends: stops its calls in flight. */
  private readonly calls = new AbortController();
  private readonly inFlight: Record<CallKind, number> = { exec: 0, file: 0 };
  private idleTimer: NodeJS.Timeout | undefined;
  private idleFrom = Date.now();
  private readonly context: AgentContext;
  private readonly idleTimeoutMs: number;
  private readonly limits: Record<CallKind, number>;
  private readonly outputBytes: number;

  constructor(options: ExternalSessionOptions) {
    this.context = options.context;
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.limits = { exec: options.maxConcurrentExecs ?? MAX_CONCURRENT_EXECS, file: options.maxConcurrentFileCalls ?? MAX_CONCURRENT_FILE_CALLS };
    this.outputBytes = options.outputBytes ?? EXEC_OUTPUT_BYTES;
    this.ended = new Promise((resolve) => (this.settle = resolve));
    this.armIdleTimer();
  }

  get runId(): string {
    return this.context.runId;
  }

  /** True until the session ends. */
  get isOpen(): boolean {
    return this.ending === undefined;
  }

  /** Since when no call has been in flight; null while one is, and once the session has ended. */
  get idleSince(): Date | null {
    return this.ending === undefined && this.busy === 0 ? new Date(this.idleFrom) : null;
  }

  /**
   * Runs a command as the run's next step and hands its output back.
   * @param caller the caller's signal (its HTTP client going away): the command is then ended as
   *   its timeout would end it, and its step is recorded with the exit code the signal left and
   *   a SYSTEM line saying the client went away (what the call answers then reaches nobody).
   */
  async exec(request: ExecRequest, caller?: AbortSignal): Promise<ExecOutcome> {
    caller?.throwIfAborted();
    return await this.call('exec', async (signal) => {
      const interrupt = caller === undefined ? undefined : clientGone(caller);
      const outcome = await this.context.step(request.command, {
        cwd: request.cwd,
        env: request.env,
        timeoutMs: request.timeoutMs,
        captureBytes: this.outputBytes,
        signal,
        ...(interrupt === undefined ? {} : { interrupt }),
        ...(request.stdin === undefined ? {} : { stdin: request.stdin }),
      });
      const output = outcome.output ?? { stdout: '', stderr: '', truncated: false };
      return {
        step: outcome.step,
        exitCode: outcome.exitCode,
        stdout: output.stdout,
        stderr: output.stderr,
        truncated: output.truncated,
        timedOut: outcome.timedOut,
        durationMs: outcome.durationMs,
      };
    });
  }

  writeFiles(files: readonly FileToWrite[]): Promise<SandboxFileInfo[]> {
    return this.call('file', (signal) => this.context.writeFiles(files, signal));
  }

  readFile(path: string, maxBytes: number): Promise<ReadFileResult> {
    return this.call('file', (signal) => this.context.readFile(path, { maxBytes, signal }));
  }

  listFiles(path: string): Promise<SandboxFileInfo[]> {
    return this.call('file', (signal) => this.context.listFiles(path, signal));
  }

  extractArchive(path: string, archive: ReopenableBytes, maxBytes: number): Promise<SandboxFileInfo[]> {
    return this.call('file', (signal) => this.context.extractArchive(path, archive, { maxBytes, signal }));
  }

  /**
   * A tar stream of a path. The call stays in flight (holding a file-call slot and the idle timer
   * off) until the stream ends, fails or is cancelled.
   * @param signal the reader's own (a client that went away).
   */
  async readArchive(path: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    this.admit('file');
    let onAbort = (): void => {};
    const release = once(() => {
      signal?.removeEventListener('abort', onAbort);
      this.leave('file');
    });
    try {
      const callSignal = signal ? AbortSignal.any([this.calls.signal, signal]) : this.calls.signal;
      const source = (await this.context.readArchive(path, callSignal)).getReader();
      // A reader that went away may never pull again (its writer waits for a drain that will not
      // come): its going is what ends the call.
      onAbort = () => {
        release();
        source.cancel(signal?.reason).catch(() => undefined);
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      return new ReadableStream<Uint8Array>(
        {
          pull: async (controller) => {
            try {
              const { done, value } = await source.read();
              if (done) {
                release();
                controller.close();
              } else {
                controller.enqueue(value);
              }
            } catch (error) {
              release();
              controller.error(this.explain(error));
            }
          },
          cancel: async (reason) => {
            release();
            await source.cancel(reason).catch(() => undefined);
          },
          // No read-ahead: the sandbox is read at the pace of the reader.
        },
        { highWaterMark: 0 },
      );
    } catch (error) {
      release();
      throw this.explain(error);
    }
  }

  /**
   * Ends the session as the agent says: exit code 0 for success.
   * @throws BosunError INVALID_STATE when it has ended already (finished, idle or failed).
   */
  finish(exitCode: number, error: string | null): void {
    this.assertOpen();
    this.end({ kind: 'finished', exitCode, error });
  }

  /** A sentence on how the session ended ("was finished with exit code 0"), or undefined while open. */
  describeEnding(): string | undefined {
    const ending = this.ending;
    if (ending === undefined) return undefined;
    if (ending.kind === 'finished') return `was finished by finishAgent with exit code ${ending.exitCode}`;
    if (ending.kind === 'idle') return `went idle: no command or file call for ${ending.idleTimeoutMs} ms`;
    return `lost its sandbox: ${errorMessage(ending.error)}`;
  }

  /**
   * Releases the session: its idle timer, and its calls in flight (they stop). The agent calls
   * it when the run ends, however it ends. Idempotent.
   */
  close(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.ending === undefined) {
      // The run stopped from outside (cancel, deadline, shutdown: its calls say so themselves), or
      // its sandbox stopped of itself (the run's signal carries that fault).
      const reason: unknown = this.context.signal.reason;
      this.ending = { kind: 'failed', error: reason instanceof SandboxError ? reason : new Error('the run stopped') };
      this.settle(this.ending);
    }
    this.calls.abort(new SessionEnded());
  }

  private get busy(): number {
    return this.inFlight.exec + this.inFlight.file;
  }

  private async call<T>(kind: CallKind, operation: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.admit(kind);
    try {
      return await operation(this.calls.signal);
    } catch (error) {
      throw this.explain(error);
    } finally {
      this.leave(kind);
    }
  }

  /** Counts a call in, or refuses it. */
  private admit(kind: CallKind): void {
    this.assertOpen();
    if (this.inFlight[kind] >= this.limits[kind]) {
      const what = kind === 'exec' ? 'commands running' : 'file calls in flight';
      throw new BosunError(
        'RATE_LIMITED',
        `run ${this.runId} has ${this.inFlight[kind]} ${what}, the most it may have at once; try again once one has ended`,
      );
    }
    const wasIdle = this.busy === 0;
    this.inFlight[kind] += 1;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (wasIdle) this.context.announce();
  }

  private leave(kind: CallKind): void {
    this.inFlight[kind] -= 1;
    if (this.busy > 0 || this.ending !== undefined) return;
    this.idleFrom = Date.now();
    this.armIdleTimer();
    this.context.announce();
  }

  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.busy === 0 && this.ending === undefined) this.end({ kind: 'idle', idleTimeoutMs: this.idleTimeoutMs });
    }, this.idleTimeoutMs);
    // The run's deadline and the executor hold the process; this timer only ends the session.
    this.idleTimer.unref();
  }

  private end(ending: SessionEnding): void {
    if (this.ending !== undefined) return;
    this.ending = ending;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.calls.abort(new SessionEnded());
    this.settle(ending);
  }

  /** @throws BosunError INVALID_STATE once the session has ended. */
  private assertOpen(): void {
    const ending = this.describeEnding();
    if (ending !== undefined) throw new BosunError('INVALID_STATE', `run ${this.runId} ${ending}; it takes no more calls`);
  }

  /** What a failed call answers: why it failed, in the API's terms. */
  private explain(error: unknown): unknown {
    const stopped: unknown = this.context.signal.aborted ? this.context.signal.reason : undefined;
    if (stopped instanceof RunStopped) {
      if (stopped.stopCause === 'shutdown') {
        return new BosunError('SHUTTING_DOWN', `bosun is shutting down: run ${this.runId} was stopped while this call ran`);
      }
      const why = stopped.stopCause === 'cancel' ? 'was cancelled' : `reached its deadline (timeoutMs ${this.context.config.timeoutMs})`;
      return new BosunError('INVALID_STATE', `run ${this.runId} ${why} while this call ran`);
    }
    if (stopped instanceof SandboxError) {
      // The sandbox stopped of itself: the run ends with this fault (SANDBOX_ERROR).
      return new BosunError('SANDBOX_ERROR', `the sandbox container stopped unexpectedly: ${stopped.message}`, { cause: stopped });
    }
    if (this.ending !== undefined && (error instanceof SessionEnded || this.calls.signal.aborted)) {
      return new BosunError('INVALID_STATE', `run ${this.runId} ${this.describeEnding()} while this call ran`);
    }
    if (isBosunError(error)) return error;
    if (!(error instanceof SandboxError)) return error;
    switch (error.code) {
      case 'FILE_NOT_FOUND':
        return new BosunError('NOT_FOUND', error.message, { cause: error });
      case 'ARCHIVE_REFUSED':
        return new BosunError('BAD_USER_INPUT', `archive: ${error.message}`, { field: 'archive', cause: error });
      case 'FILE_ERROR':
        // The sandbox's own refusal (no space left, a directory in the way): the run goes on.
        return new BosunError('FILE_ERROR', error.message, { cause: error });
      case 'CONTAINER_GONE':
      case 'DOCKER_UNAVAILABLE':
        // The run cannot go on: it ends with this fault (SANDBOX_ERROR).
        this.end({ kind: 'failed', error });
        return new BosunError(error.code === 'DOCKER_UNAVAILABLE' ? 'DOCKER_UNAVAILABLE' : 'SANDBOX_ERROR', error.message, { cause: error });
      default:
        return new BosunError('SANDBOX_ERROR', error.message, { cause: error });
    }
  }
}

/** A signal that aborts, saying the client went away, when `caller` aborts. */
function clientGone(caller: AbortSignal): AbortSignal {
  const interrupt = new AbortController();
  const onAbort = (): void => interrupt.abort(new Error('the client went away'));
  if (caller.aborted) onAbort();
  else caller.addEventListener('abort', onAbort, { once: true });
  return interrupt.signal;
}

/** The abort reason of calls in flight when their session ends. */
class SessionEnded extends Error {
  constructor() {
    super('the session ended');
  }
}

function once(action: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    action();
  };
}
