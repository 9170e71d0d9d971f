/**
 * 5. Queue dispatch: bosun's AgentExecutionQueue against a bare p-queue (what it wraps) at the
 * same concurrency, 100,000 in-memory no-op tasks handed over at once, no Docker. Each
 * measurement runs in a fresh worker thread (bench/workers/dispatch-worker.ts); pairs alternate
 * (p-queue, bosun). A run still going at the time limit is stopped and counted by what it
 * completed by then.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { figure, type Benchmark } from '../lib/report.js';
import { summarize } from '../lib/stats.js';

const TASKS = Number(process.env['BENCH_DISPATCH_TASKS'] ?? 100_000);
const SMALL = 10_000;
const CONCURRENCY = 10;
const PAIRS = 3;
const LIMIT_S = Number(process.env['BENCH_DISPATCH_LIMIT_S'] ?? 20);

/** Worker threads do not inherit tsx's loader: the worker registers it, then loads the TypeScript entry. */
const WORKER_BOOT = new URL(
  `data:text/javascript,${encodeURIComponent(
    `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))}; register(); ` +
      `await import(${JSON.stringify(new URL('../workers/dispatch-worker.ts', import.meta.url).href)});`,
  )}`,
);

interface Measurement {
  readonly impl: 'bosun' | 'p-queue';
  readonly tasks: number;
  readonly enqueued: number;
  readonly completed: number;
  readonly seconds: number;
  readonly finished: boolean;
  /** Completed tasks per second. */
  readonly rate: number;
}

async function measure(impl: 'bosun' | 'p-queue', tasks: number, limitS: number, profileFile?: string): Promise<Measurement> {
  const progress = new SharedArrayBuffer(8);
  const counters = new Int32Array(progress);
  const worker = new Worker(WORKER_BOOT, { workerData: { impl, tasks, concurrency: CONCURRENCY, progress, profileFile } });
  let begun = performance.now();
  let timer: NodeJS.Timeout | undefined;
  // The time limit counts from the moment the thread is up, not from its creation.
  const limit = new Promise<null>((resolve) =>
    worker.once('online', () => {
      begun = performance.now();
      timer = setTimeout(() => resolve(null), limitS * 1000);
    }),
  );
  const result = await Promise.race([
    new Promise<{ ms: number; completed: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }),
    limit,
  ]);
  clearTimeout(timer);
  if (result === null) {
    const seconds = (performance.now() - begun) / 1000;
    const completed = Atomics.load(counters, 1);
    const enqueued = Atomics.load(counters, 0);
    await worker.terminate();
    return { impl, tasks, enqueued, completed, seconds, finished: false, rate: completed / seconds };
  }
  await worker.terminate();
  return {
    impl,
    tasks,
    enqueued: tasks,
    completed: result.completed,
    seconds: result.ms / 1000,
    finished: true,
    rate: result.completed / (result.ms / 1000),
  };
}

function describe(m: Measurement): string {
  return m.finished
    ? `${m.impl} ${m.tasks} tasks in ${(m.seconds * 1000).toFixed(0)} ms`
    : `${m.impl} stopped after ${m.seconds.toFixed(1)} s with ${m.enqueued} of ${m.tasks} enqueued and ${m.completed} completed`;
}

export const dispatch: Benchmark = {
  name: 'dispatch',
  title: `Queue dispatch: ${TASKS.toLocaleString('en')} no-op tasks, concurrency ${CONCURRENCY}`,
  async run(context) {
    const ours: Measurement[] = [];
    const base: Measurement[] = [];
    const smallOurs: Measurement[] = [];
    const smallBase: Measurement[] = [];
    // Warm-up: module loading and JIT of both paths.
    await measure('p-queue', SMALL, 30);
    await measure('bosun', 1_000, 30);
    for (let pair = 0; pair < PAIRS; pair += 1) {
      base.push(await measure('p-queue', TASKS, LIMIT_S));
      ours.push(await measure('bosun', TASKS, LIMIT_S));
      context.log(`dispatch: ${describe(base.at(-1)!)}; ${describe(ours.at(-1)!)}`);
    }
    for (let pair = 0; pair < PAIRS; pair += 1) {
      smallBase.push(await measure('p-queue', SMALL, 30));
      smallOurs.push(await measure('bosun', SMALL, 30));
    }
    if (context.profileDir !== undefined) {
      await measure('bosun', 20_000, 60, join(context.profileDir, 'dispatch-bosun-20000.cpuprofile'));
    }
    const so = summarize(ours.map((m) => m.rate));
    const sb = summarize(base.map((m) => m.rate));
    const value = so.median / sb.median;
    const sso = summarize(smallOurs.map((m) => m.rate));
    const ssb = summarize(smallBase.map((m) => m.rate));
    return {
      method:
        `${PAIRS} pairs at ${TASKS.toLocaleString('en')} tasks after a warm-up, alternating p-queue / bosun, each in a new worker thread; ` +
        `tasks are all enqueued in one synchronous loop and awaited to idle, concurrency ${CONCURRENCY} on both sides. A sample is tasks ` +
        `completed per second; a run not finished after ${LIMIT_S} s is stopped and counted as completed tasks / elapsed time. ` +
        `The same is repeated at ${SMALL.toLocaleString('en')} tasks, where bosun finishes, to show how its cost grows with the backlog.`,
      rows: [
        {
          metric: `dispatch throughput, ${TASKS.toLocaleString('en')} tasks`,
          unit: 'tasks/s',
          samples: `${so.n} / ${sb.n}`,
          bosun: figure(so),
          baseline: { name: 'bare p-queue', ...figure(sb) },
          ratio: { value, definition: 'bosun / p-queue tasks/s' },
          target: '≥ 0.5×',
          pass: value >= 0.5 && ours.every((m) => m.finished),
        },
      ],
      notes: [
        ...ours.map((m) => `bosun: ${describe(m)}.`),
        `p-queue: ${base.map((m) => `${(m.seconds * 1000).toFixed(0)} ms`).join(', ')} for ${TASKS.toLocaleString('en')} tasks.`,
        `At ${SMALL.toLocaleString('en')} tasks (${PAIRS} pairs): bosun median ${sso.median.toFixed(0)} tasks/s ` +
          `(${smallOurs.map((m) => `${(m.seconds * 1000).toFixed(0)} ms`).join(', ')}), p-queue ${ssb.median.toFixed(0)} tasks/s ` +
          `(${smallBase.map((m) => `${(m.seconds * 1000).toFixed(0)} ms`).join(', ')}): ${(sso.median / ssb.median).toFixed(3)}×.`,
      ],
    };
  },
};
