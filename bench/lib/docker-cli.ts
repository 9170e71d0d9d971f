/**
 * The baselines a user would script by hand go through the docker CLI, and so does cleanup:
 * every container a benchmark creates carries a label, and is removed by that label in a finally.
 */
import { run } from './processes.js';

export const IMAGE = 'bosun-sandbox:latest';
/** Label on containers the benchmarks create through the CLI; its value is the run id. */
export const BENCH_LABEL = 'bosun.bench';
/** The same limits bosun gives a sandbox by default (DOCKER_CPU_LIMIT, DOCKER_MEMORY_LIMIT, DOCKER_PIDS_LIMIT). */
export const LIMIT_FLAGS = ['--cpus', '1', '--memory', '2g', '--pids-limit', '1000', '--network', 'none'];

/** Ids of all containers (running or not) with `label=value`. */
export async function containersLabelled(label: string, value: string): Promise<string[]> {
  const { stdout } = await run('docker', ['ps', '-aq', '--no-trunc', '--filter', `label=${label}=${value}`]);
  return stdout.split('\n').filter((line) => line.trim() !== '');
}

/** Force-removes every container with `label=value`; returns how many there were. Never throws. */
export async function removeLabelled(label: string, value: string): Promise<number> {
  try {
    const ids = await containersLabelled(label, value);
    if (ids.length > 0) await run('docker', ['rm', '-f', '-v', ...ids], { allowFailure: true });
    return ids.length;
  } catch {
    return 0;
  }
}

/** Engine version, for the results' environment section. */
export async function dockerVersion(): Promise<string> {
  const { stdout } = await run('docker', ['version', '--format', '{{.Server.Version}}'], { allowFailure: true });
  return stdout.trim() || 'unknown';
}
