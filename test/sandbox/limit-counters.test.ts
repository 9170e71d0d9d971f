/**
 * The limit counters as the kernel prints them (cgroup v1 and v2), and the fallback to Docker's
 * record when they cannot be read. The counters in a real container: docker-sandbox.docker.test.ts
 * (faults).
 */
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { parseLimitCounters, readLimitEvents } from '../../src/sandbox/limit-counters.js';
import type { ExecOptions, ExecResult } from '../../src/sandbox/sandbox.js';

const V1 = ['oom_kill_disable 0', 'under_oom 0', 'oom_kill 2', 'max 7', ''].join('\n');
const V2 = ['low 0', 'high 0', 'max 3', 'oom 1', 'oom_kill 1', 'oom_group_kill 0', 'max 5', ''].join('\n');

/** A sandbox whose counters command prints `lines` (or fails), and whose inspect says `oomKilled`. */
function sandbox(lines: readonly string[] | Error, oomKilled: boolean | Error) {
  return {
    exec: (_command: string, options: ExecOptions): Promise<ExecResult> => {
      if (lines instanceof Error) return Promise.reject(lines);
      for (const line of lines) options.onOutput?.('stdout', line);
      return Promise.resolve({ exitCode: 0 });
    },
    inspect: (): Promise<Docker.ContainerInspectInfo> =>
      oomKilled instanceof Error ? Promise.reject(oomKilled) : Promise.resolve({ State: { OOMKilled: oomKilled } } as Docker.ContainerInspectInfo),
  };
}

describe('parseLimitCounters', () => {
  it('reads cgroup v1 memory.oom_control and pids.events', () => {
    expect(parseLimitCounters(V1)).toEqual({ oomKills: 2, pidsLimitHits: 7 });
  });

  it('reads the OOM counter of cgroup v2 memory.events, not its oom line', () => {
    expect(parseLimitCounters(V2).oomKills).toBe(1);
  });

  // memory.events has a `max` line of its own (times usage hit memory.max), printed before pids.events.
  it('reads cgroup v2 pids.events max, not memory.events max', () => {
    expect(parseLimitCounters(V2).pidsLimitHits).toBe(5);
  });

  it('says null for an OOM counter it did not see, and 0 forks refused', () => {
    expect(parseLimitCounters('')).toEqual({ oomKills: null, pidsLimitHits: 0 });
  });
});

describe('readLimitEvents', () => {
  it('takes the counters the command prints', async () => {
    expect(await readLimitEvents(sandbox(V1.split('\n'), true))).toEqual({ oomKills: 2, pidsLimitHits: 7 });
  });

  it("falls back to Docker's OOMKilled when the command fails, and to 0 when inspect fails too", async () => {
    expect(await readLimitEvents(sandbox(new Error('out of pids'), true))).toEqual({ oomKills: 1, pidsLimitHits: 0 });
    expect(await readLimitEvents(sandbox(new Error('gone'), new Error('gone')))).toEqual({ oomKills: 0, pidsLimitHits: 0 });
  });
});
