/**
 * One dispatch measurement in a worker thread: `n` no-op tasks (`async () => {}`) through either
 * bosun's AgentExecutionQueue (`enqueue(id)`, the task its `runTask` handler) or a bare p-queue (`add(task)`) at the same
 * concurrency, all handed over at once, then awaited to idle. Progress is published in shared
 * memory (enqueued, completed), so the parent can read how far a run got and stop it at a time
 * limit even while this thread is busy in one long chain of microtasks.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { parentPort, workerData } from 'node:worker_threads';
import PQueue from 'p-queue';
import { AgentExecutionQueue } from '../../src/queue/agent-execution-queue.js';

interface Job {
  readonly impl: 'bosun' | 'p-queue';
  readonly tasks: number;
  readonly concurrency: number;
  /** [enqueued, completed] */
  readonly progress: SharedArrayBuffer;
  readonly profileFile?: string;
}

const job = workerData as Job;
const progress = new Int32Array(job.progress);

let session: Session | undefined;
if (job.profileFile) {
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 1000 });
  await session.post('Profiler.start');
}

let completed = 0;
const task = (): Promise<void> => {
  completed += 1;
  if ((completed & 255) === 0) Atomics.store(progress, 1, completed);
  return Promise.resolve();
};

const started = performance.now();
if (job.impl === 'bosun') {
  const queue = new AgentExecutionQueue({ runTask: task, maxConcurrency: job.concurrency, maxQueueLength: job.tasks, queueTimeoutMs: 3_600_000 });
  for (let index = 0; index < job.tasks; index += 1) {
    // Entered inside the call, as p-queue's add(); a refusal would reject (none is expected).
    void queue.enqueue(`run-${index}`);
    if ((index & 255) === 0) Atomics.store(progress, 0, index + 1);
  }
  Atomics.store(progress, 0, job.tasks);
  await queue.onIdle();
} else {
  const queue = new PQueue({ concurrency: job.concurrency });
  for (let index = 0; index < job.tasks; index += 1) {
    void queue.add(task);
    if ((index & 255) === 0) Atomics.store(progress, 0, index + 1);
  }
  Atomics.store(progress, 0, job.tasks);
  await queue.onIdle();
}
const ms = performance.now() - started;
Atomics.store(progress, 1, completed);

if (session) {
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(job.profileFile!, JSON.stringify(profile));
  session.disconnect();
}
parentPort!.postMessage({ ms, completed });
