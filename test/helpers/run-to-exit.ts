/**
 * Runs a TypeScript entry point of this repository (src/main.ts, a test helper) as a child process
 * under tsx until it exits, collecting what it prints: how the start-up, refusal and process-guard
 * tests watch bosun exit. A child that has not exited after `timeoutMs` is killed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The repository's root: children run there, as `npm start` does. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ProcessOutcome {
  /** The exit code; null when a signal ended the child. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunToExitOptions {
  /** The child's whole environment; default this process's. */
  readonly env?: NodeJS.ProcessEnv;
  /** Default 20 s. */
  readonly timeoutMs?: number;
}

/** Runs `node --import tsx <args…>` in {@link ROOT} and resolves once it exits. */
export async function runToExit(args: readonly string[], options: RunToExitOptions = {}): Promise<ProcessOutcome> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  try {
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}
