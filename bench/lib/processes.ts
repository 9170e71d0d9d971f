/**
 * Process plumbing for the benchmarks: TypeScript children forked through tsx (as `npm start`
 * runs bosun), command lines timed to the millisecond, and what /proc says about a process's CPU
 * time and resident memory.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));

/** Clock ticks per second for /proc/<pid>/stat CPU fields. */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface ForkOptions {
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  /** Extra node flags, e.g. `--cpu-prof`. */
  readonly nodeFlags?: readonly string[];
}

/** Forks `bench/<script>` under tsx with an IPC channel; its stdout/stderr are kept for errors. */
export function forkTs(script: string, options: ForkOptions = {}): ChildProcess & { output(): string } {
  const child = fork(new URL(`../${script}`, import.meta.url), [...(options.args ?? [])], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx', ...(options.nodeFlags ?? [])],
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 20_000) output = output.slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return Object.assign(child, { output: () => output });
}

/** Resolves with the first IPC message of `type` from `child`, or rejects when it exits or times out. */
export function waitForMessage<T extends { type: string }>(child: ChildProcess & { output(): string }, type: string, timeoutMs = 60_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no "${type}" message within ${timeoutMs} ms:\n${child.output()}`)), timeoutMs);
    const onMessage = (message: { type?: string }) => {
      if (message?.type === type) finish(undefined, message as T);
      else if (message?.type === 'error') finish(new Error(`child failed: ${JSON.stringify(message)}\n${child.output()}`));
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(new Error(`child exited (${code ?? signal}) before "${type}":\n${child.output()}`));
    const finish = (error?: Error, value?: T) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(value!);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** Waits for a child to exit, killing it after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time from spawn to exit. */
  readonly ms: number;
}

/** Runs a command and times it from spawn to exit; rejects on a non-zero exit unless `allowFailure`. */
export async function run(
  command: string,
  args: readonly string[],
  options: { allowFailure?: boolean; input?: string } = {},
): Promise<CommandResult> {
  const started = performance.now();
  const child = spawn(command, args, { stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  if (options.input !== undefined) child.stdin!.end(options.input);
  const [code] = (await once(child, 'close')) as [number | null];
  const ms = performance.now() - started;
  const result = { code: code ?? -1, stdout, stderr, ms };
  if (result.code !== 0 && !options.allowFailure) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}: ${stderr.trim() || stdout.trim()}`);
  }
  return result;
}

/** User + system CPU time of a process in ms, from /proc/<pid>/stat (10 ms resolution at 100 Hz). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / CLOCK_TICKS;
}

/**
 * CPU time of a process in ms with nanosecond resolution: the sum of its threads' run time from
 * /proc/<pid>/task/<tid>/schedstat (threads that already exited are not counted, so use it for
 * processes whose threads live as long as they do, like Node's). Falls back to {@link cpuMs}.
 */
export function cpuMsPrecise(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    }
    if (Number.isFinite(ns) && ns > 0) return ns / 1e6;
  } catch {
    // No schedstat: fall through.
  }
  return cpuMs(pid);
}

/** Sum of {@link cpuMs} over processes; a process that went away counts 0. */
export function cpuMsOf(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuMs(pid);
    } catch {
      // Gone.
    }
  }
  return total;
}

/** Resident set size and its high-water mark in bytes, from /proc/<pid>/status. */
export function rss(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const read = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: read('VmRSS'), hwm: read('VmHWM') };
}

/** Pids of processes whose command name is exactly `name` (e.g. dockerd), if visible. */
export function pidsNamed(name: string): number[] {
  try {
    return execFileSync('pgrep', ['-x', name], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map(Number);
  } catch {
    return [];
  }
}

export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'n/a';
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
