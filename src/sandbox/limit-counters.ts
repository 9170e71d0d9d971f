/**
 * What the kernel did to a sandbox at its limits, read from inside it: its cgroup's counters of
 * processes killed for exceeding the memory limit (`oom_kill`) and of forks refused at the pids
 * limit (`pids.events` max), in the cgroup v1 files or else the v2 ones.
 *
 * Split from the {@link DockerSandbox}: reading and parsing the counters is its own job, testable
 * without a container.
 */
import type Docker from 'dockerode';
import type { ExecOptions, ExecResult, LimitEvents } from './sandbox.js';

/** Prints the counters' files, cgroup v1 or else v2; never fails (a file that cannot be read prints nothing). */
export const LIMIT_COUNTERS_COMMAND =
  'cat /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/pids/pids.events 2>/dev/null || cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/pids.events 2>/dev/null; exit 0';

/** The counters in what {@link LIMIT_COUNTERS_COMMAND} printed; `oomKills` null when no OOM counter was printed. */
export function parseLimitCounters(output: string): { readonly oomKills: number | null; readonly pidsLimitHits: number } {
  const oom = /^oom_kill (\d+)$/m.exec(output);
  // pids.events is printed last, and cgroup v2's memory.events, printed before it, has a `max`
  // line of its own (times usage hit memory.max): the forks refused are the last `max` line.
  const pids = [...output.matchAll(/^max (\d+)$/gm)].at(-1);
  return { oomKills: oom ? Number(oom[1]) : null, pidsLimitHits: pids ? Number(pids[1]) : 0 };
}

/**
 * Reads the sandbox's counters with a command run in it. Where they cannot be read (the
 * container is gone or out of pids), `oomKills` falls back to Docker's `State.OOMKilled`.
 */
export async function readLimitEvents(sandbox: {
  exec(command: string, options: ExecOptions): Promise<ExecResult>;
  inspect(): Promise<Docker.ContainerInspectInfo>;
}): Promise<LimitEvents> {
  let output = '';
  try {
    await sandbox.exec(LIMIT_COUNTERS_COMMAND, { onOutput: (_stream, line) => (output += `${line}\n`) });
  } catch {
    // Fall through to Docker's own record.
  }
  const counters = parseLimitCounters(output);
  const oomKills =
    counters.oomKills ??
    (await sandbox.inspect().then(
      (info) => (info.State.OOMKilled ? 1 : 0),
      () => 0,
    ));
  return { oomKills, pidsLimitHits: counters.pidsLimitHits };
}
