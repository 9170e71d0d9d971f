/**
 * Starts bosun in a child process (bench/servers/bosun-server.ts) so that its CPU time and RSS
 * can be read from /proc alone, and stops it: graceful close first, then every container labelled
 * with its instance id is force-removed, whatever happened.
 */
import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { removeLabelled } from './docker-cli.js';
import { forkTs, stopChild, waitForMessage } from './processes.js';

/** An event-loop stall of the child past 50 ms, as its own 10 ms timer saw it (bench/servers/bosun-server.ts). */
export interface LoopStall {
  /** When it ended, epoch ms. */
  readonly endedAt: number;
  readonly ms: number;
  /** How much of it V8 spent collecting garbage. */
  readonly gcMs: number;
  /** The main thread's CPU time in it: far below `ms`, the machine did not run bosun (a busy, shared machine). */
  readonly cpuMs: number;
  /** True when a forced GC the parent asked for ran in it. */
  readonly forcedGc: boolean;
}

export interface BosunChild {
  readonly process: ChildProcess & { output(): string };
  readonly pid: number;
  /** http://127.0.0.1:PORT/graphql */
  readonly url: string;
  /** ws://127.0.0.1:PORT/graphql */
  readonly wsUrl: string;
  readonly instanceId: string;
  /** The child's own view of its memory (process.memoryUsage()); with `gc`, after a full collection (needs --expose-gc). */
  memoryUsage(gc?: boolean): Promise<NodeJS.MemoryUsage>;
  /** The child's event-loop stalls past 50 ms since it started (none unless started with `watchStalls`). */
  stalls(): Promise<LoopStall[]>;
  /**
   * Runs `during` with V8's CPU profiler and sampling heap profiler on in the child when profiling
   * is on (writing `<profileDir>/<name>.cpuprofile` and `.heapprofile`); otherwise just runs it.
   */
  profiled<T>(name: string, during: () => Promise<T>): Promise<T>;
  /** Closes bosun (grace 0) and removes anything left with its label; returns how many containers were left. */
  stop(): Promise<number>;
}

export interface BosunChildOptions {
  /** Environment variables on top of the benchmark defaults (e.g. MAX_CONCURRENT_AGENTS). */
  readonly env?: Record<string, string>;
  /** Where {@link BosunChild.profiled} writes its profiles; profiling is off without it. */
  readonly profileDir?: string | undefined;
  /** Extra node flags for the child, e.g. `--expose-gc`. */
  readonly nodeFlags?: readonly string[];
  /** Watch the child's event loop for stalls (a 10 ms timer in it; see {@link BosunChild.stalls}). */
  readonly watchStalls?: boolean;
}

/**
 * The V8 flag and allocator setting `npm start` runs bosun with (scripts/runtime.sh:
 * `bosun_node_flags`, `bosun_malloc_arena_max`), so that a benchmark measures bosun as it runs in
 * production; the flag costs some CPU per request and saves much memory under load.
 */
export const PRODUCTION_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];
export const PRODUCTION_MALLOC_ARENA_MAX = '2';

/** Instances started in this process, so an interrupted run can still clean up after them. */
export const startedInstances = new Set<string>();

export async function startBosun(options: BosunChildOptions = {}): Promise<BosunChild> {
  const instanceId = `bench-${randomUUID().slice(0, 8)}`;
  startedInstances.add(instanceId);
  const child = forkTs('servers/bosun-server.ts', {
    nodeFlags: [...PRODUCTION_NODE_FLAGS, ...(options.nodeFlags ?? [])],
    env: {
      MALLOC_ARENA_MAX: PRODUCTION_MALLOC_ARENA_MAX,
      PORT: '0',
      HOST: '127.0.0.1',
      BOSUN_DB_PATH: ':memory:',
      LOG_LEVEL: 'silent',
      BOSUN_INSTANCE_ID: instanceId,
      SHUTDOWN_GRACE_MS: '0',
      STOP_GRACE_MS: '1000',
      // Caps meant for a public deployment, which the load here exceeds on purpose (ignored by a
      // bosun that does not know them).
      MAX_WS_CONNECTIONS: '100000',
      MAX_PENDING_WS_PER_ADDRESS: '100000',
      START_RATE_PER_MINUTE: '1000000',
      // The cold path, as in earlier results, unless a benchmark asks for the pool (`warm` does):
      // frozen pool sandboxes would also count as live containers in `concurrency`.
      WARM_POOL_SIZE: '0',
      ...(options.watchStalls ? { BENCH_WATCH_STALLS: '1' } : {}),
      ...options.env,
    },
  });
  let ready: { url: string; pid: number };
  try {
    ready = await waitForMessage<{ type: string; url: string; pid: number }>(child, 'ready', 60_000);
  } catch (error) {
    child.kill('SIGKILL');
    await removeLabelled('bosun.instance', instanceId);
    throw error;
  }
  let stopping: Promise<number> | undefined;
  let leftBehind = 0;
  return {
    process: child,
    pid: ready.pid,
    url: ready.url,
    wsUrl: ready.url.replace(/^http/, 'ws'),
    instanceId,
    async memoryUsage(gc = false) {
      const reply = waitForMessage<{ type: string; usage: NodeJS.MemoryUsage }>(child, 'memory', 10_000);
      child.send({ type: 'memory', gc });
      return (await reply).usage;
    },
    async stalls() {
      const reply = waitForMessage<{ type: string; stalls: LoopStall[] }>(child, 'loop', 10_000);
      child.send({ type: 'loop' });
      return (await reply).stalls;
    },
    async profiled(name, during) {
      if (options.profileDir === undefined) return during();
      const started = waitForMessage(child, 'profiling', 10_000);
      child.send({ type: 'profile-start' });
      await started;
      try {
        return await during();
      } finally {
        const stopped = waitForMessage(child, 'profiled', 60_000);
        child.send({ type: 'profile-stop', file: join(options.profileDir, name) });
        await stopped;
      }
    },
    stop() {
      stopping ??= (async () => {
        try {
          if (child.connected) child.send({ type: 'close' });
          await stopChild(child, 30_000);
        } finally {
          leftBehind = await removeLabelled('bosun.instance', instanceId);
          startedInstances.delete(instanceId);
        }
        return leftBehind;
      })();
      return stopping;
    },
  };
}
