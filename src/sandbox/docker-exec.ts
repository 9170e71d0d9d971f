/**
 * One command in a sandbox container over the engine's exec API: create the exec, attach to its
 * output (and stdin), split both streams into lines, and read the exit code from the engine
 * once the process is over. Kept apart from the container's lifecycle in docker-sandbox.ts
 * because this is the part that grows with what commands can do (per-command limits, captured
 * output for API callers).
 */
import type Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import { delay } from '../shared/deadline.js';
import { dockerCall } from './docker-call.js';
import { LineSplitter } from './line-splitter.js';
import { SandboxError, toSandboxError } from './sandbox-errors.js';
import type { ExecOptions, ExecResult } from './sandbox.js';

const EXEC_SETTLE_POLL_MS = 25;

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

/**
 * Runs `sh -c command` and streams its output line by line.
 * The exit code is read from the exec's inspect, not inferred from the end of the stream.
 * @throws SandboxError CONTAINER_GONE when the container died under the command,
 *   DOCKER_UNAVAILABLE when the engine is lost; the signal's reason on abort.
 */
export async function execInContainer(target: ExecTarget, command: string, options: ExecOptions = {}): Promise<ExecResult> {
  const { signal } = options;
  signal?.throwIfAborted();
  const call = <T>(action: string, fn: (callSignal: AbortSignal) => Promise<T>) => dockerCall(action, target.callTimeoutMs, fn, signal);
  const env = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`);
  const withStdin = options.stdin !== undefined;
  const action = `run a command in ${target.name}`;
  const exec = await call(action, (callSignal) =>
    target.container.exec({
      Cmd: ['sh', '-c', command],
      Env: env,
      ...(options.cwd === undefined ? {} : { WorkingDir: options.cwd }),
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: withStdin,
      Tty: false,
      abortSignal: callSignal,
    }),
  );
  const stream = await call(action, () => exec.start({ hijack: true, stdin: withStdin }));
  target.activeExecs.add(exec);
  try {
    const output = pipeOutput(target.docker, stream, options);
    if (withStdin) stream.end(options.stdin);
    await output;
    return { exitCode: await settledExitCode(target, exec, signal) };
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw toSandboxError(error, action);
  } finally {
    stream.destroy();
    // An aborted exec stays "active" until its process is gone, so that stop() waits for it.
    if (!signal?.aborted) target.activeExecs.delete(exec);
  }
}

function pipeOutput(docker: Docker, stream: Duplex, options: ExecOptions): Promise<void> {
  const onOutput = options.onOutput ?? (() => {});
  const stdout = new LineSplitter((line) => onOutput('stdout', line));
  const stderr = new LineSplitter((line) => onOutput('stderr', line));
  return new Promise<void>((resolve, reject) => {
    let finished = false;
    const finish = (error?: Error) => {
      if (finished) return;
      finished = true;
      options.signal?.removeEventListener('abort', onAbort);
      stdout.end();
      stderr.end();
      if (error) reject(error);
      else resolve();
    };
    const onAbort = () => finish(options.signal?.reason as Error);
    // The signal may have fired while the exec was being created: no event will come then.
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    docker.modem.demuxStream(
      stream,
      { write: (chunk: Buffer) => stdout.write(chunk) } as unknown as NodeJS.WritableStream,
      { write: (chunk: Buffer) => stderr.write(chunk) } as unknown as NodeJS.WritableStream,
    );
    stream.once('end', () => finish());
    stream.once('close', () => finish());
    stream.once('error', (error) => finish(error));
  });
}

/** The stream can end a moment before the engine records the exit code. */
async function settledExitCode(target: ExecTarget, exec: Docker.Exec, signal?: AbortSignal): Promise<number> {
  for (;;) {
    const info = await dockerCall(`read the exit code of a command in ${target.name}`, target.callTimeoutMs, () => exec.inspect(), signal);
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    if (!info.Running) {
      throw new SandboxError('CONTAINER_GONE', `the container ${target.name} stopped while a command ran`);
    }
    if ((await delay(EXEC_SETTLE_POLL_MS, signal ? [signal] : [])) === 'interrupted') signal?.throwIfAborted();
  }
}
