/**
 * The first command of a warm-pool sandbox, started ahead of time. Starting a process in a
 * container (the engine's exec: runc joins the container's namespaces and cgroups) costs tens of
 * milliseconds, most of a warm start once the sandbox is thawed. So a pool sandbox starts one
 * exec before it is frozen: a small shell that waits on its standard input. The first command of
 * the run that takes the sandbox is handed to it there: the environment, then the command, then
 * the command's own standard input; the shell exports the one and becomes `sh -c <command>`, the
 * very process an ordinary exec would have started, in the same session, working directory, user
 * and environment. Its output and exit code are read as for any exec (see docker-exec.ts).
 *
 * Only a command that an ordinary exec would run the same way is handed over (the container's
 * working directory, variable names a shell can export, no option this file does not know);
 * anything else, a connection the engine has dropped, and every later command, go the ordinary
 * way. The two cannot be told apart from inside but by standard input: a pipe at end-of-file
 * here, where an ordinary exec without input has `/dev/null` (test/sandbox/warm-pool.docker.test.ts
 * compares env, ids, privileges, cgroups and mounts as the first command sees them).
 */
import type Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import { withDeadline } from '../shared/deadline.js';
import { dockerCall } from './docker-call.js';
import { pipeOutput, settledExitCode, type ExecTarget } from './docker-exec.js';
import { SandboxError, toSandboxError } from './sandbox-errors.js';
import type { ExecOptions, ExecResult } from './sandbox.js';

/** What the waiting shell says on standard output once it waits (never part of a command's output). */
const READY_LINE = '__bosun_ready\n';

/**
 * The waiting shell. It first undoes its own SHLVL increment (if its shell counts levels: it
 * asks a child shell), so that the `sh -c` it becomes counts the level an ordinary exec's would,
 * and says it is ready (the engine answers an exec's start before its process runs: the sandbox
 * must not be frozen before it does). Then it reads a count of variables, each name and value (values escaped for `printf %b`, with
 * an `x` appended so that the command substitution keeps trailing newlines), exports them, reads
 * the command the same way and becomes `sh -c <command>`. `read` takes one byte at a time from a
 * pipe, so what follows the last line is left for the command. Its own variables are not exported.
 */
const WAITING_SHELL = [
  `case "\${SHLVL-}" in ''|*[!0-9]*) ;; *) __bosun_l=$(sh -c 'echo "\${SHLVL:-0}"'); SHLVL=$((SHLVL - (__bosun_l - SHLVL))); export SHLVL;; esac`,
  `printf '${READY_LINE.replace('\n', '\\n')}'`,
  'IFS= read -r __bosun_n || exit 126',
  'while [ "$__bosun_n" -gt 0 ]; do',
  '  IFS= read -r __bosun_k || exit 126; IFS= read -r __bosun_v || exit 126',
  '  __bosun_v=$(printf "%bx" "$__bosun_v"); export "$__bosun_k=${__bosun_v%x}" || exit 126; __bosun_n=$((__bosun_n - 1))',
  'done',
  'IFS= read -r __bosun_c || exit 126',
  '__bosun_c=$(printf "%bx" "$__bosun_c")',
  'exec sh -c "${__bosun_c%x}"',
].join('\n');

/**
 * What the options of an exec may hold for it to be handed over (a later option goes the ordinary
 * way). `timeoutGraceMs` alone changes nothing: it only shapes a timeout or an interrupt, which
 * are not known here. The run executor passes it with every step, and `skipLines`, which only
 * shapes how lines are handed over.
 */
const KNOWN_OPTIONS = new Set(['env', 'cwd', 'signal', 'onOutput', 'skipLines', 'stdin', 'timeoutGraceMs']);
const EXPORTABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Whether a command with these options can be handed to a prepared shell (see {@link PreparedCommand.fits}). */
export function fitsPreparedCommand(command: string, options: ExecOptions, workingDir: string): boolean {
  if (command.includes('\0')) return false;
  if (Object.keys(options).some((key) => !KNOWN_OPTIONS.has(key))) return false;
  if (options.cwd !== undefined && options.cwd !== workingDir) return false;
  return Object.entries(options.env ?? {}).every(
    ([name, value]) => EXPORTABLE_NAME.test(name) && !name.startsWith('__bosun_') && !value.includes('\0'),
  );
}

/**
 * Reads the waiting shell's first frame of output (the engine's multiplexing: an 8-byte header
 * with the stream and the size, then the bytes) and checks that it is the ready line; anything
 * read past it is put back. What the engine says instead (an exec that failed to start) rejects.
 */
function readyLine(stream: Duplex, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const done = (error?: Error) => {
      stream.off('data', onData).off('end', onEnd).off('close', onEnd).off('error', done);
      signal.removeEventListener('abort', onAbort);
      stream.pause();
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 8 || buffered.length < 8 + buffered.readUInt32BE(4)) return;
      const size = buffered.readUInt32BE(4);
      const text = buffered.subarray(8, 8 + size).toString();
      const rest = buffered.subarray(8 + size);
      if (rest.length > 0) stream.unshift(rest);
      done(
        buffered[0] === 1 && text === READY_LINE ? undefined : new SandboxError('DOCKER_ERROR', `the prepared command did not start: ${text.trim()}`),
      );
    };
    const onEnd = () => done(new SandboxError('CONTAINER_GONE', 'the prepared command ended before it was ready'));
    const onAbort = () => done(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    stream.on('data', onData).once('end', onEnd).once('close', onEnd).once('error', done);
  });
}

/** One line that `printf %b` turns back into `text`. */
function escaped(text: string): string {
  return `${text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')}\n`;
}

export class PreparedCommand {
  private open = true;

  private constructor(
    private readonly exec: Docker.Exec,
    private readonly stream: Duplex,
  ) {
    const closed = () => (this.open = false);
    stream.once('close', closed).once('end', closed).once('error', closed);
  }

  /** Starts the waiting shell in the container (which must be running), and waits until it waits. */
  static async start(target: ExecTarget, signal?: AbortSignal): Promise<PreparedCommand> {
    const action = `prepare a command in ${target.name}`;
    const exec = await dockerCall(
      action,
      target.callTimeoutMs,
      (callSignal) =>
        target.container.exec({
          Cmd: ['sh', '-c', WAITING_SHELL],
          AttachStdout: true,
          AttachStderr: true,
          AttachStdin: true,
          Tty: false,
          abortSignal: callSignal,
        }),
      signal,
    );
    const stream = await dockerCall(action, target.callTimeoutMs, () => exec.start({ hijack: true, stdin: true }), signal);
    try {
      await withDeadline((callSignal) => readyLine(stream, callSignal), {
        timeoutMs: target.callTimeoutMs,
        ...(signal === undefined ? {} : { signal }),
        onTimeout: () => new SandboxError('DOCKER_UNAVAILABLE', `${action}: it did not start within ${target.callTimeoutMs} ms`),
      });
    } catch (error) {
      stream.destroy();
      throw error;
    }
    return new PreparedCommand(exec, stream);
  }

  /** Whether `command` would run here exactly as an ordinary exec with these options runs it. */
  fits(command: string, options: ExecOptions, workingDir: string): boolean {
    return this.open && fitsPreparedCommand(command, options, workingDir);
  }

  /**
   * Runs `sh -c command` in the waiting shell and streams its output line by line; as
   * `execInContainer` (its errors too), but without starting a process.
   */
  async run(target: ExecTarget, command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const { signal } = options;
    signal?.throwIfAborted();
    const action = `run a command in ${target.name}`;
    target.activeExecs.add(this.exec);
    try {
      // A connection the engine dropped while the sandbox waited will never end again: do not wait on it.
      if (!this.open) throw new SandboxError('CONTAINER_GONE', `the prepared command in ${target.name} lost its connection`);
      const output = pipeOutput(target.docker, this.stream, options.onOutput, signal, undefined, options.skipLines);
      // Paused since the ready line was read: a new 'data' listener does not resume it.
      this.stream.resume();
      const env = Object.entries(options.env ?? {});
      this.stream.write(`${env.length}\n${env.map(([name, value]) => `${name}\n${escaped(value)}`).join('')}${escaped(command)}`);
      if (options.stdin === undefined) this.stream.end();
      else this.stream.end(options.stdin);
      await output;
      return { exitCode: await settledExitCode(target, this.exec, signal) };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw toSandboxError(error, action);
    } finally {
      this.open = false;
      this.stream.destroy();
      // As an ordinary exec: one aborted stays "active" until its process is gone, for stop().
      if (!signal?.aborted) target.activeExecs.delete(this.exec);
    }
  }

  /** Ends the waiting shell unused (it reads end-of-file and exits). */
  discard(): void {
    this.open = false;
    this.stream.destroy();
  }
}
