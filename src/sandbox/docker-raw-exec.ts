/**
 * Commands whose output is bytes, not lines: the sandbox's own file and archive operations
 * (docker-files.ts, docker-archive.ts) read a file's bytes or a tar from standard output and feed
 * a tar to standard input. Standard output comes as a Node stream with backpressure (see
 * exec-demux.ts), standard input can be a stream, and the command can be killed: every raw
 * command runs under the pid-reporting wrapper of docker-exec.ts, so a reader that gives up (a
 * download cancelled, a byte cap reached, an abort) ends the processes, not just the connection.
 */
import type { Readable } from 'node:stream';
import { ExecDemuxer } from './exec-demux.js';
import { parseSessionPid, reportingPid, settledExitCode, settlesWithin, signalSession, startExec, type ExecTarget } from './docker-exec.js';
import { SandboxError, toSandboxError } from './sandbox-errors.js';

/** Standard error kept for messages; the rest is dropped. */
const STDERR_KEPT_BYTES = 64 * 1024;
/** The wrapper's pid line is short; anything longer is not one. */
const PID_LINE_MAX_BYTES = 16;
/** What a shell reports for a process ended by SIGKILL, when the engine cannot tell. */
const KILLED_EXIT_CODE = 137;
/** How long a killed command's exit code is waited for; past it, it counts as killed. */
const KILLED_SETTLE_MS = 5_000;

export interface RawExecOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Written to standard input (a stream, with backpressure), which is then closed. Without it, no stdin. */
  readonly stdin?: Uint8Array | Readable;
  /** Kills the command and rejects `done` with the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface RawExecOutcome {
  readonly exitCode: number;
  /** The start of standard error, decoded as UTF-8. */
  readonly stderr: string;
}

/** A running command with byte output. */
export interface RawExec {
  /**
   * Standard output, byte for byte. Read it to its end or destroy it: the process waits on it
   * (backpressure), and destroying it before its end kills the process.
   */
  readonly stdout: Readable;
  /**
   * Settles once `stdout` has been read to its end (or destroyed) and the process is over (or
   * was killed).
   * @throws the standard input stream's own error, the signal's reason, or a SandboxError
   *   (CONTAINER_GONE, DOCKER_UNAVAILABLE, DOCKER_ERROR for a connection lost mid-output).
   */
  readonly done: Promise<RawExecOutcome>;
  /** SIGKILL to the command's processes and the connection dropped. Idempotent; never throws. */
  kill(): Promise<void>;
}

/** Starts `argv` (no shell unless argv is one) with byte output. */
export async function startRawExec(target: ExecTarget, argv: readonly string[], options: RawExecOptions = {}): Promise<RawExec> {
  const { signal, stdin } = options;
  signal?.throwIfAborted();
  const { exec, stream } = await startExec(target, reportingPid(argv), {
    env: options.env,
    cwd: options.cwd,
    stdin: stdin !== undefined,
    signal,
  });
  const action = `run a command in ${target.name}`;
  const stderr = new StderrWithPid();
  const stdout = new ExecDemuxer((chunk) => stderr.write(chunk));
  /** Why the command is over before its time: its input failed, it was aborted, or the connection broke. */
  let failure: { readonly error: unknown; readonly passThrough: boolean } | undefined;
  const fail = (error: unknown, passThrough: boolean) => {
    failure ??= { error, passThrough };
    stdout.destroy(error as Error);
    void kill();
  };

  let killing: Promise<void> | undefined;
  const kill = (): Promise<void> =>
    (killing ??= (async () => {
      // The pid line is the wrapper's first act: it is there at once, or the command never ran.
      const pid = (await settlesWithin(stderr.pid, target.callTimeoutMs)) ? await stderr.pid : undefined;
      stream.destroy();
      if (pid !== undefined) await signalSession(target, pid, 'KILL');
    })());

  let outputEnded = false;
  const streamOver = new Promise<void>((resolve) => {
    stream.once('end', () => {
      outputEnded = true;
      resolve();
    });
    stream.once('error', (error) => fail(error, false));
    stream.once('close', () => {
      stderr.end();
      if (!outputEnded && killing === undefined) {
        fail(new SandboxError('DOCKER_ERROR', `the connection to a command in ${target.name} closed before its output ended`), false);
      }
      resolve();
    });
  });
  stream.pipe(stdout);
  let stdoutEnded = false;
  const stdoutOver = new Promise<void>((resolve) => {
    stdout.once('end', () => {
      stdoutEnded = true;
      resolve();
    });
    // Its reader gave up before the end: the command must not go on producing for no one.
    stdout.once('close', () => {
      if (!stdoutEnded) void kill();
      resolve();
    });
  });
  const onAbort = () => fail(signal?.reason, true);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });

  if (stdin instanceof Uint8Array) stream.end(stdin);
  else if (stdin) {
    stdin.once('error', (error) => fail(error, true));
    stdin.pipe(stream);
  }

  const done = (async (): Promise<RawExecOutcome> => {
    try {
      // Standard error is complete only once standard output has been read through.
      await Promise.all([streamOver, stdoutOver]);
      if (failure?.passThrough) throw failure.error;
      if (killing !== undefined) {
        await killing;
        // The connection broke with the process maybe over: its exit code and message still tell what happened.
        const exitCode = await settledExitCode(target, exec, undefined, Math.min(KILLED_SETTLE_MS, target.callTimeoutMs));
        if (failure !== undefined && exitCode === undefined) throw failure.error;
        return { exitCode: exitCode ?? KILLED_EXIT_CODE, stderr: stderr.text() };
      }
      return { exitCode: await settledExitCode(target, exec, signal), stderr: stderr.text() };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (failure?.passThrough && error === failure.error) throw error;
      throw toSandboxError(error, action);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      target.activeExecs.delete(exec);
      // A command that stopped reading early leaves its input to be let go of here.
      if (stdin !== undefined && !(stdin instanceof Uint8Array)) stdin.destroy();
    }
  })();
  // Marked handled: a reader that cancels may never look at the outcome.
  done.catch(() => undefined);
  return { stdout, done, kill };
}

/** Standard error of a wrapped command: the pid line first, then the command's own, kept up to a bound. */
class StderrWithPid {
  readonly pid: Promise<number | undefined>;
  private resolvePid!: (pid: number | undefined) => void;
  private pidLine: Buffer | undefined = Buffer.alloc(0);
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;

  constructor() {
    this.pid = new Promise((resolve) => (this.resolvePid = resolve));
  }

  write(chunk: Buffer): void {
    if (this.pidLine === undefined) return this.keep(chunk);
    this.pidLine = Buffer.concat([this.pidLine, chunk]);
    const newline = this.pidLine.indexOf(0x0a);
    if (newline === -1 && this.pidLine.length <= PID_LINE_MAX_BYTES) return;
    this.resolvePid(newline === -1 ? undefined : parseSessionPid(this.pidLine.subarray(0, newline).toString('latin1')));
    this.keep(newline === -1 ? this.pidLine : this.pidLine.subarray(newline + 1));
    this.pidLine = undefined;
  }

  /** The output is over: no pid is coming any more. */
  end(): void {
    if (this.pidLine !== undefined) this.keep(this.pidLine);
    this.pidLine = undefined;
    this.resolvePid(undefined);
  }

  text(): string {
    return Buffer.concat(this.kept).toString('utf8');
  }

  private keep(chunk: Buffer): void {
    const room = STDERR_KEPT_BYTES - this.keptBytes;
    if (room <= 0 || chunk.length === 0) return;
    const part = chunk.subarray(0, room);
    this.kept.push(part);
    this.keptBytes += part.length;
  }
}

/** Reads a command's whole standard output, up to `maxBytes`: past it, the command is killed and `truncated` says so. */
export async function readAll(raw: RawExec, maxBytes: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of raw.stdout as AsyncIterable<Buffer>) {
    if (total + chunk.length > maxBytes) {
      chunks.push(chunk.subarray(0, maxBytes - total));
      // Leaving the loop destroys the stream, which kills the command.
      return { bytes: Buffer.concat(chunks), truncated: true };
    }
    chunks.push(chunk);
    total += chunk.length;
  }
  return { bytes: Buffer.concat(chunks), truncated: false };
}
