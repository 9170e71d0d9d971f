/**
 * One command in a sandbox container over the engine's exec API: create the exec, attach to its
 * output (and stdin), split both streams into lines (and hand the bytes as printed to callers
 * that want them, `onData`), and read the exit code from the engine once the process is over.
 * Kept apart from the container's lifecycle in docker-sandbox.ts because this is the part that
 * grows with what commands can do (per-command timeouts, raw output for files and archives in
 * docker-raw-exec.ts).
 *
 * A command with a timeout (or an interrupt) runs under a wrapper that first writes its pid on standard error (the
 * line is taken out of the output). The engine starts every exec as the leader of a new session
 * and process group (runc calls setsid), so that pid names the group of everything the command
 * starts, and `kill -TERM -<pid>` from a second exec ends exactly that command.
 */
import type Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import { MAX_TIMER_DELAY_MS } from '../shared/constants.js';
import { delay } from '../shared/deadline.js';
import { dockerCall } from './docker-call.js';
import { LineSplitter, MAX_LINE_CHARS, type LineSkip } from './line-splitter.js';
import { OutputPacer } from './output-pacer.js';
import { SandboxError, toSandboxError } from './sandbox-errors.js';
import type { ExecOptions, ExecResult, OutputStream } from './sandbox.js';

const EXEC_SETTLE_POLL_MS = 25;
/** Between SIGTERM and SIGKILL for a command past its timeout, unless the call says otherwise (as STOP_GRACE_MS's default). */
export const DEFAULT_TIMEOUT_GRACE_MS = 5_000;
/** What a shell reports for a process ended by SIGKILL, when the engine cannot tell. */
const KILLED_EXIT_CODE = 137;

/** The container a command runs in, and the set of its commands that may still be running. */
export interface ExecTarget {
  readonly docker: Docker;
  readonly container: Docker.Container;
  /** The container's name, for messages. */
  readonly name: string;
  /** Deadline of each Docker API call. */
  readonly callTimeoutMs: number;
  /**
   * Commands started and not known to be over. An aborted command stays in it (its process
   * still runs), so that a stop can wait for it.
   */
  readonly activeExecs: Set<Docker.Exec>;
}

export interface StartExecOptions {
  readonly env?: Readonly<Record<string, string>> | undefined;
  readonly cwd?: string | undefined;
  /** Attach standard input (the caller writes it and ends the stream). */
  readonly stdin: boolean;
  readonly signal?: AbortSignal | undefined;
}

export interface StartedExec {
  readonly exec: Docker.Exec;
  /** The hijacked connection: multiplexed output to read, standard input to write. */
  readonly stream: Duplex;
}

/** Creates and starts an exec of `argv` (no shell of its own) and registers it in `activeExecs`. */
export async function startExec(target: ExecTarget, argv: readonly string[], options: StartExecOptions): Promise<StartedExec> {
  const { signal } = options;
  const call = <T>(action: string, fn: (callSignal: AbortSignal) => Promise<T>) => dockerCall(action, target.callTimeoutMs, fn, signal);
  const env = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`);
  const action = `run a command in ${target.name}`;
  const exec = await call(action, (callSignal) =>
    target.container.exec({
      Cmd: [...argv],
      Env: env,
      ...(options.cwd === undefined ? {} : { WorkingDir: options.cwd }),
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: options.stdin,
      Tty: false,
      abortSignal: callSignal,
    }),
  );
  const stream = await call(action, () => exec.start({ hijack: true, stdin: options.stdin }));
  target.activeExecs.add(exec);
  return { exec, stream };
}

/** `argv` run by a shell that first writes its own pid, a line on standard error, then becomes `argv`. */
export function reportingPid(argv: readonly string[]): string[] {
  return ['sh', '-c', 'echo $$ >&2; exec "$@"', 'sh', ...argv];
}

/** Parses the wrapper's pid line; undefined for anything that is not a plausible session leader. */
export function parseSessionPid(line: string): number | undefined {
  if (!/^\d{1,10}$/.test(line)) return undefined;
  const pid = Number(line);
  return pid > 1 ? pid : undefined;
}

/**
 * Sends a signal to every process of the session `pid` leads, from a second exec. Never throws:
 * a session already gone, or a container dying, leaves nothing to signal.
 */
export async function signalSession(target: ExecTarget, pid: number, signalName: 'TERM' | 'KILL'): Promise<void> {
  try {
    await execInContainer(target, `kill -s ${signalName} -${pid} 2>/dev/null; exit 0`);
  } catch {
    // Nothing left to signal, or nothing left to signal with.
  }
}

/**
 * Runs `sh -c command` and streams its output line by line. With `timeoutMs`, the command's
 * processes get SIGTERM once it has run that long, SIGKILL after the grace, and the result says
 * `timedOut`; with `interrupt`, the same once it aborts, and the result says `interrupted`. The
 * container's other commands are not touched.
 * The exit code is read from the exec's inspect, not inferred from the end of the stream.
 * @throws SandboxError CONTAINER_GONE when the container died under the command,
 *   DOCKER_UNAVAILABLE when the engine is lost; the signal's reason on abort.
 */
export async function execInContainer(target: ExecTarget, command: string, options: ExecOptions = {}): Promise<ExecResult> {
  const { signal, timeoutMs, interrupt } = options;
  signal?.throwIfAborted();
  const withStdin = options.stdin !== undefined;
  const action = `run a command in ${target.name}`;
  const leader = timeoutMs === undefined && interrupt === undefined ? undefined : new SessionLeader();
  const argv = ['sh', '-c', command];
  const { exec, stream } = await startExec(target, leader ? reportingPid(argv) : argv, {
    env: options.env,
    cwd: options.cwd,
    stdin: withStdin,
    signal,
  });
  const graceMs = options.timeoutGraceMs ?? DEFAULT_TIMEOUT_GRACE_MS;
  let timer: NodeJS.Timeout | undefined;
  let ending: Promise<void> | undefined;
  /** What ended the command early: its timeout or its interrupt, whichever came first. */
  let endedBy: 'timeout' | 'interrupt' | undefined;
  let onInterrupt: (() => void) | undefined;
  try {
    const onOutput = leader ? leader.intercept(options.onOutput) : options.onOutput;
    const output = pipeOutput(target.docker, stream, onOutput, signal, rawOutput(options.onData, leader !== undefined), options.skipLines);
    if (leader) {
      void output.finally(() => leader.giveUp()).catch(() => undefined);
      const end = (by: 'timeout' | 'interrupt') => {
        if (ending !== undefined) return;
        endedBy = by;
        ending = endSession(target, leader, output, stream, graceMs);
      };
      if (timeoutMs !== undefined) timer = setTimeout(() => end('timeout'), Math.min(Math.max(0, timeoutMs), MAX_TIMER_DELAY_MS));
      onInterrupt = () => end('interrupt');
      if (interrupt?.aborted) onInterrupt();
      else interrupt?.addEventListener('abort', onInterrupt, { once: true });
    }
    if (withStdin) stream.end(options.stdin);
    await output;
    clearTimeout(timer);
    if (ending === undefined) return { exitCode: await settledExitCode(target, exec, signal) };
    await ending;
    // A process that left the command's session may still hold the exec open: do not wait for it.
    const exitCode = (await settledExitCode(target, exec, signal, graceMs)) ?? KILLED_EXIT_CODE;
    return endedBy === 'timeout' ? { exitCode, timedOut: true } : { exitCode, interrupted: true };
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw toSandboxError(error, action);
  } finally {
    clearTimeout(timer);
    if (onInterrupt) interrupt?.removeEventListener('abort', onInterrupt);
    stream.destroy();
    // An aborted exec stays "active" until its process is gone, so that stop() waits for it.
    if (!signal?.aborted) target.activeExecs.delete(exec);
  }
}

/** The pid line a wrapped command writes first on standard error. */
class SessionLeader {
  readonly pid: Promise<number | undefined>;
  private resolve!: (pid: number | undefined) => void;
  private seen = false;

  constructor() {
    this.pid = new Promise((resolve) => (this.resolve = resolve));
  }

  /** An output callback that takes the first stderr line for itself and passes on the rest. */
  intercept(onOutput: ExecOptions['onOutput']): (stream: OutputStream, line: string) => void {
    return (stream, line) => {
      if (stream === 'stderr' && !this.seen) {
        this.seen = true;
        this.resolve(parseSessionPid(line));
        return;
      }
      onOutput?.(stream, line);
    };
  }

  /** The output ended: no pid is coming. */
  giveUp(): void {
    this.seen = true;
    this.resolve(undefined);
  }
}

/** SIGTERM to the command's session, then SIGKILL if it is still there after the grace. Never throws. */
async function endSession(target: ExecTarget, leader: SessionLeader, output: Promise<void>, stream: Duplex, graceMs: number): Promise<void> {
  const pid = await leader.pid;
  if (pid === undefined) return;
  const ended = output.then(
    () => true,
    () => true,
  );
  await signalSession(target, pid, 'TERM');
  if (await settlesWithin(ended, graceMs)) return;
  await signalSession(target, pid, 'KILL');
  // A process that left the session (setsid, a daemon) can hold the output open after the kill.
  if (!(await settlesWithin(ended, graceMs))) stream.destroy();
}

/** True when `promise` settles within `ms`; the timer is gone either way. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const controller = new AbortController();
  try {
    return await Promise.race([promise.then(() => true), delay(ms, [controller.signal]).then(() => false)]);
  } finally {
    controller.abort();
  }
}

/**
 * The `onData` callbacks of both streams, the wrapper's pid line (the first of stderr, with a
 * timeout) left out as it is left out of the lines; undefined without `onData`.
 */
function rawOutput(onData: ExecOptions['onData'], skipPidLine: boolean): Record<OutputStream, (chunk: Buffer) => void> | undefined {
  if (!onData) return undefined;
  let skipping = skipPidLine;
  return {
    stdout: (chunk) => onData('stdout', chunk),
    stderr: (chunk) => {
      let rest = chunk;
      if (skipping) {
        const newline = rest.indexOf(0x0a);
        if (newline === -1) return;
        skipping = false;
        rest = rest.subarray(newline + 1);
      }
      if (rest.length > 0) onData('stderr', rest);
    },
  };
}

/**
 * Demultiplexes an exec's output into `onOutput` lines (and `raw` chunks; lines skipped as
 * `skipLines` asks); resolves when the
 * stream is over, rejects on its error or the signal's abort. Also the warm pool's prepared
 * command reads its output this way (prepared-command.ts).
 */
export function pipeOutput(
  docker: Docker,
  stream: Duplex,
  onOutput: ExecOptions['onOutput'],
  signal: AbortSignal | undefined,
  raw?: Record<OutputStream, (chunk: Buffer) => void>,
  skipLines?: ExecOptions['skipLines'],
): Promise<void> {
  const emit = onOutput ?? (() => {});
  const skip = (stream: OutputStream): LineSkip | undefined =>
    skipLines && { keepLast: () => skipLines.keepLast(stream), skipped: (lines, bytes) => skipLines.skipped(stream, lines, bytes) };
  const stdout = new LineSplitter((line) => emit('stdout', line), MAX_LINE_CHARS, skip('stdout'));
  const stderr = new LineSplitter((line) => emit('stderr', line), MAX_LINE_CHARS, skip('stderr'));
  return new Promise<void>((resolve, reject) => {
    let finished = false;
    const finish = (error?: Error) => {
      if (finished) return;
      finished = true;
      signal?.removeEventListener('abort', onAbort);
      let failure = error;
      try {
        pacer.flush();
        if (pacer.error === undefined) {
          stdout.end();
          stderr.end();
        } else {
          // A handler threw mid-piece: what the splitters hold is dropped, not handed on as lines.
          failure ??= asError(pacer.error);
        }
      } catch (handlerError) {
        // The last lines' handler threw: the command still settles, with that error.
        failure ??= asError(handlerError);
      }
      if (failure) reject(failure);
      else resolve();
    };
    // Output is handled in bounded slices of each turn of the event loop (see OutputPacer). A line
    // handler that throws fails the command; the rest of its output is read and dropped.
    const pacer = new OutputPacer(stream, undefined, undefined, (error) => finish(asError(error)));
    const onAbort = () => finish(signal?.reason as Error);
    // The signal may have fired while the exec was being created: no event will come then.
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    docker.modem.demuxStream(
      stream,
      {
        write: (chunk: Buffer) =>
          pacer.write(chunk, (piece) => {
            raw?.stdout(piece);
            stdout.write(piece);
          }),
      } as unknown as NodeJS.WritableStream,
      {
        write: (chunk: Buffer) =>
          pacer.write(chunk, (piece) => {
            raw?.stderr(piece);
            stderr.write(piece);
          }),
      } as unknown as NodeJS.WritableStream,
    );
    // The stream's end waits for the output still waiting to be handled.
    const ended = () => void pacer.drained().then(() => finish());
    stream.once('end', ended);
    stream.once('close', ended);
    stream.once('error', (error) => finish(error));
  });
}

/**
 * The stream can end a moment before the engine records the exit code. With `giveUpAfterMs`,
 * undefined when the engine still reports the process running after that long.
 */
export async function settledExitCode(target: ExecTarget, exec: Docker.Exec, signal?: AbortSignal): Promise<number>;
export async function settledExitCode(
  target: ExecTarget,
  exec: Docker.Exec,
  signal: AbortSignal | undefined,
  giveUpAfterMs: number,
): Promise<number | undefined>;
export async function settledExitCode(
  target: ExecTarget,
  exec: Docker.Exec,
  signal?: AbortSignal,
  giveUpAfterMs?: number,
): Promise<number | undefined> {
  const giveUpAt = giveUpAfterMs === undefined ? Infinity : Date.now() + giveUpAfterMs;
  for (;;) {
    const info = await dockerCall(`read the exit code of a command in ${target.name}`, target.callTimeoutMs, () => exec.inspect(), signal);
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    if (!info.Running) {
      throw new SandboxError('CONTAINER_GONE', `the container ${target.name} stopped while a command ran`);
    }
    if (Date.now() >= giveUpAt) return undefined;
    if ((await delay(EXEC_SETTLE_POLL_MS, signal ? [signal] : [])) === 'interrupted') signal?.throwIfAborted();
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
