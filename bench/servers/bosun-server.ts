/**
 * bosun as the process under test: the real composition root (src/app.ts) with the real Docker
 * engine, configured from the environment the parent gives it (PORT 0, an in-memory database, a
 * unique BOSUN_INSTANCE_ID). Tells the parent its URL over IPC; on `close` shuts down gracefully
 * (which removes its sandboxes) and exits. With REDIS_URL and BOSUN_DB_URL it is a cluster node,
 * its backends opened as src/main.ts opens them (`cluster` benchmarks).
 *
 * For profiling a benchmark's measured window only (not start-up, not module loading), the parent
 * sends `profile-start` / `profile-stop` {file}: V8's CPU profiler (the one behind `--cpu-prof`)
 * and its sampling heap profiler (behind `--heap-prof`) run through the inspector in this process
 * between the two messages, and both profiles are written next to `file`.
 *
 * With BENCH_WATCH_STALLS=1 (set by the parent, off by default: an idle benchmark must not have a
 * timer waking bosun), event-loop stalls are watched from start-up: a 10 ms timer that fires late
 * by more than STALL_REPORT_MS records the stall (when it ended, how long, how much of it V8
 * spent collecting garbage, how much CPU time the main thread had in it, whether the parent's
 * forced GC fell in it); `loop` answers with the
 * list, so that a benchmark can tell which of its phases held the loop.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';
import type { AppBackends } from '../../src/app-backends.js';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';

const send = (message: Record<string, unknown>) => process.send?.(message);
const config = loadConfig(process.env);
const logger = createLogger({ level: config.logLevel, pretty: false });
let backends: AppBackends | undefined;
if (config.cluster !== undefined) {
  // Loaded only for a cluster node, as main.ts does: an embedded bosun never loads the cluster's libraries.
  const { openClusterBackends } = await import('../../src/cluster-backends.js');
  try {
    backends = await openClusterBackends({ ...config, cluster: config.cluster }, { logger });
  } catch (error) {
    send({ type: 'error', message: String(error) });
    process.exit(1);
  }
}
const app = createApp(config, { logger, ...(backends === undefined ? {} : { backends }) });

const STALL_TICK_MS = 10;
const STALL_REPORT_MS = 50;
/**
 * Stalls past STALL_REPORT_MS: `endedAt` in epoch ms, `forcedGc` when the parent's forced GC ran
 * in it, `cpuMs` the main thread's CPU time in it (far below `ms`: the machine did not run bosun).
 */
const stalls: { endedAt: number; ms: number; forcedGc: boolean; gcMs: number; cpuMs: number }[] = [];
/** The main thread's CPU time in ms (the whole process's where Node cannot tell one thread's). */
const threadCpuMs = (): number => {
  const { user, system } = typeof process.threadCpuUsage === 'function' ? process.threadCpuUsage() : process.cpuUsage();
  return (user + system) / 1000;
};
let lastTick = performance.now();
let lastCpuMs = threadCpuMs();
let lastForcedGc = -1;
/** V8's collections (start, duration in ms) since the last tick: how much of a stall was garbage collection. */
let collections: { startTime: number; duration: number }[] = [];
if (process.env['BENCH_WATCH_STALLS'] === '1') {
  new PerformanceObserver((list) => collections.push(...list.getEntries())).observe({ entryTypes: ['gc'] });
  setInterval(() => {
    const now = performance.now();
    const cpuMs = threadCpuMs();
    const lateMs = now - lastTick - STALL_TICK_MS;
    if (lateMs > STALL_REPORT_MS && stalls.length < 10_000) {
      const gcMs = collections.filter((gc) => gc.startTime >= lastTick).reduce((sum, gc) => sum + gc.duration, 0);
      stalls.push({ endedAt: Date.now(), ms: lateMs, forcedGc: lastForcedGc >= lastTick, gcMs, cpuMs: cpuMs - lastCpuMs });
    }
    collections = [];
    lastTick = now;
    lastCpuMs = cpuMs;
  }, STALL_TICK_MS).unref();
}

process.on('message', (message: { type?: string }) => {
  if (message?.type === 'close') {
    app.close(0).then(
      () => {
        send({ type: 'closed' });
        process.exit(0);
      },
      (error: unknown) => {
        send({ type: 'error', message: String(error) });
        process.exit(1);
      },
    );
  } else if (message?.type === 'memory') {
    // With `gc` (and --expose-gc), after a full collection: what is live, not what awaits collection.
    if ((message as { gc?: boolean }).gc) {
      (globalThis as { gc?: () => void }).gc?.();
      lastForcedGc = performance.now();
    }
    send({ type: 'memory', usage: process.memoryUsage() });
  } else if (message?.type === 'loop') {
    send({ type: 'loop', stalls });
  } else if (message?.type === 'profile-start') {
    startProfiling().then(
      () => send({ type: 'profiling' }),
      (error: unknown) => send({ type: 'error', message: String(error) }),
    );
  } else if (message?.type === 'profile-stop') {
    const file = (message as { file: string }).file;
    stopProfiling(file).then(
      () => send({ type: 'profiled' }),
      (error: unknown) => send({ type: 'error', message: String(error) }),
    );
  }
});

let session: Session | undefined;

async function startProfiling(): Promise<void> {
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', { samplingInterval: 32_768 });
  await session.post('Profiler.start');
}

async function stopProfiling(file: string): Promise<void> {
  if (!session) throw new Error('profile-stop without profile-start');
  const { profile } = await session.post('Profiler.stop');
  const { profile: heap } = await session.post('HeapProfiler.stopSampling');
  writeFileSync(`${file}.cpuprofile`, JSON.stringify(profile));
  writeFileSync(`${file}.heapprofile`, JSON.stringify(heap));
  session.disconnect();
  session = undefined;
}
process.on('disconnect', () => {
  void app.close(0).finally(() => process.exit(0));
});

try {
  const { url } = await app.start();
  send({ type: 'ready', url, instanceId: app.instanceId, pid: process.pid });
} catch (error) {
  send({ type: 'error', message: String(error) });
  await app.close(0);
  process.exit(1);
}
