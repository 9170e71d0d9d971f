import type { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BosunError, InvalidValueError } from '../../src/errors.js';
import { AgentExecutionQueue, type AgentExecutionQueueOptions } from '../../src/queue/agent-execution-queue.js';
import type { EnqueueOptions, ExecutionQueueEvents, QueueTicket } from '../../src/queue/execution-queue.js';

/** The work of one run in these tests: the queue's handler runs the task enqueued with the run's id. */
type QueueTask = (signal: AbortSignal) => Promise<void>;

type RecordedEvent = {
  [K in keyof ExecutionQueueEvents]: { name: K; payload: ExecutionQueueEvents[K][0] };
}[keyof ExecutionQueueEvents];

const EVENT_NAMES: ReadonlyArray<keyof ExecutionQueueEvents> = ['enqueued', 'position-changed', 'started', 'finished', 'left', 'status'];

/** Every event of the queue, in order. */
function record(queue: AgentExecutionQueue): RecordedEvent[] {
  const events: RecordedEvent[] = [];
  for (const name of EVENT_NAMES) {
    (queue.events as EventEmitter).on(name, (payload: unknown) => events.push({ name, payload } as RecordedEvent));
  }
  return events;
}

/** A task the test finishes by hand, remembering whether and with which signal it was started. */
interface ManualTask {
  readonly task: QueueTask;
  readonly calls: number;
  readonly signal: AbortSignal | undefined;
  resolve(): void;
  reject(error: unknown): void;
}

function manualTask(onStart?: () => void): ManualTask {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const settled = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const state = {
    calls: 0,
    signal: undefined as AbortSignal | undefined,
    task: (signal: AbortSignal) => {
      state.calls += 1;
      state.signal = signal;
      onStart?.();
      return settled;
    },
    resolve: () => resolve(),
    reject: (error: unknown) => reject(error),
  };
  return state;
}

/** Lets settled tasks free their p-queue slots and the next ones start (real timers only). */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The task of each run id, per queue: what the queue's one handler runs. */
const tasksOf = new WeakMap<AgentExecutionQueue, Map<string, QueueTask>>();

function queueWith(options: Partial<AgentExecutionQueueOptions> = {}): AgentExecutionQueue {
  const tasks = new Map<string, QueueTask>();
  const queue = new AgentExecutionQueue({
    runTask: (id, signal) => {
      const task = tasks.get(id);
      if (!task) throw new Error(`no task for ${id}`);
      return task(signal);
    },
    maxConcurrency: 1,
    maxQueueLength: 100,
    queueTimeoutMs: 60_000,
    ...options,
  });
  tasksOf.set(queue, tasks);
  queues.push(queue);
  return queue;
}

/** Enqueues run `id` whose work is `task`. The in-process queue enters it inside the call. */
function enqueue(queue: AgentExecutionQueue, id: string, task: QueueTask, options?: EnqueueOptions): Promise<QueueTicket> {
  tasksOf.get(queue)!.set(id, task);
  return queue.enqueue(id, options);
}

/** What the promise rejects with. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('Expected the promise to reject');
}

/** Records unhandled rejections until `stop()`; vitest would report them too, this makes a test fail on them. */
function watchUnhandledRejections(): { readonly reasons: unknown[]; stop(): void } {
  const reasons: unknown[] = [];
  const listener = (reason: unknown) => reasons.push(reason);
  process.on('unhandledRejection', listener);
  return { reasons, stop: () => process.off('unhandledRejection', listener) };
}

const queues: AgentExecutionQueue[] = [];

afterEach(() => {
  for (const queue of queues.splice(0)) void queue.close();
  vi.useRealTimers();
});

describe('AgentExecutionQueue: order and concurrency', () => {
  it('starts 6 tasks in enqueue order with never more than 2 running, and the 6th only moves forward', async () => {
    const queue = queueWith({ maxConcurrency: 2 });
    const events = record(queue);
    let active = 0;
    let maxActive = 0;
    const startOrder: string[] = [];
    const tasks = new Map<string, ManualTask>();
    const tickets = [];
    for (const id of ['1', '2', '3', '4', '5', '6']) {
      const task = manualTask(() => {
        active += 1;
        maxActive = Math.max(maxActive, active);
        startOrder.push(id);
      });
      tasks.set(id, task);
      const wrapped: QueueTask = async (signal) => {
        try {
          await task.task(signal);
        } finally {
          active -= 1;
        }
      };
      tickets.push(await enqueue(queue, id, wrapped));
    }
    expect(tickets.map((ticket) => ticket.position)).toEqual([0, 0, 1, 2, 3, 4]);
    expect(queue.waitingIds()).toEqual(['3', '4', '5', '6']);

    // Finish them out of start order: the start order must still follow the line.
    for (const id of ['2', '1', '4', '3', '6', '5']) {
      await vi.waitFor(() => expect(tasks.get(id)!.calls).toBe(1));
      tasks.get(id)!.resolve();
      await flush();
    }
    await queue.onIdle();

    expect(startOrder).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(maxActive).toBe(2);
    for (const event of events) {
      if (event.name === 'status') expect(event.payload.running).toBeLessThanOrEqual(2);
    }
    // Its ticket said 4; then one event per step forward, and 0 once it started.
    const sixth = events.flatMap((event) => {
      if (event.name === 'position-changed' && event.payload.id === '6') return [event.payload.position];
      if (event.name === 'started' && event.payload.id === '6') return [0];
      return [];
    });
    expect(sixth).toEqual([3, 2, 1, 0]);
    expect(queue.position('6')).toBe(0);
    expect(events.filter((event) => event.name === 'finished').map((event) => event.payload.id)).toEqual(['2', '1', '4', '3', '6', '5']);
  });

  it('starts a task inside enqueue when a slot is free, with enqueued, status, started, status before it returns', async () => {
    const queue = queueWith({ maxConcurrency: 1 });
    const events = record(queue);
    const task = manualTask();
    const entering = enqueue(queue, 'a', task.task);

    // Before anything is awaited: the in-process queue does it all inside the call.
    expect(task.calls).toBe(1);
    expect(events.map((event) => event.name)).toEqual(['enqueued', 'status', 'started', 'status']);
    const ticket = await entering;
    expect(ticket).toEqual({ position: 0, running: 1, queued: 0, maxConcurrency: 1 });
    expect(events.map((event) => event.name)).toEqual(['enqueued', 'status', 'started', 'status']);
    expect(events[0]!.payload).toMatchObject({ id: 'a', position: 0 });
    expect(queue.isRunning('a')).toBe(true);
  });

  it('treats 0 as unlimited: every run starts at once and utilization stays 0', async () => {
    const queue = queueWith({ maxConcurrency: 0 });
    const tasks = Array.from({ length: 50 }, () => manualTask());
    const tickets = await Promise.all(tasks.map((task, index) => enqueue(queue, `run-${index}`, task.task)));
    const positions = tickets.map((ticket) => ticket.position);

    expect(positions.every((position) => position === 0)).toBe(true);
    expect(tasks.every((task) => task.calls === 1)).toBe(true);
    expect(queue.stats()).toEqual({ running: 50, queued: 0, maxConcurrency: 0, utilizationPercent: 0, paused: false });
  });

  it('starts waiting runs at once when the limit is raised (1 → 3 with 4 waiting starts 2)', () => {
    const queue = queueWith({ maxConcurrency: 1 });
    const tasks = ['r', 'w1', 'w2', 'w3', 'w4'].map((id) => {
      const task = manualTask();
      void enqueue(queue, id, task.task);
      return task;
    });
    const events = record(queue);

    void queue.setMaxConcurrency(3);

    expect(tasks.map((task) => task.calls)).toEqual([1, 1, 1, 0, 0]);
    expect(queue.stats()).toMatchObject({ running: 3, queued: 2, maxConcurrency: 3 });
    expect(queue.waitingIds()).toEqual(['w3', 'w4']);
    expect(events.map((event) => [event.name, 'id' in event.payload ? event.payload.id : undefined])).toEqual([
      ['started', 'w1'],
      ['position-changed', 'w2'],
      ['position-changed', 'w3'],
      ['position-changed', 'w4'],
      ['status', undefined],
      ['started', 'w2'],
      ['position-changed', 'w3'],
      ['position-changed', 'w4'],
      ['status', undefined],
      ['status', undefined],
    ]);
    expect(events.at(-1)!.payload).toMatchObject({ maxConcurrency: 3, running: 3 });
  });

  it('lets running runs finish when the limit is lowered (3 → 1) and starts the next only below the limit', async () => {
    const queue = queueWith({ maxConcurrency: 3 });
    const running = ['r1', 'r2', 'r3'].map((id) => {
      const task = manualTask();
      void enqueue(queue, id, task.task);
      return task;
    });
    const next = manualTask();
    const last = manualTask();
    void enqueue(queue, 'next', next.task);
    void enqueue(queue, 'last', last.task);

    void queue.setMaxConcurrency(1);
    expect(queue.stats()).toMatchObject({ running: 3, queued: 2, maxConcurrency: 1, utilizationPercent: 300 });
    expect(running.every((task) => task.signal?.aborted === false)).toBe(true);

    running[0]!.resolve();
    await flush();
    expect(queue.stats().running).toBe(2);
    running[1]!.resolve();
    await flush();
    expect(queue.stats().running).toBe(1);
    expect(next.calls).toBe(0);

    running[2]!.resolve();
    await flush();
    expect(next.calls).toBe(1);
    expect(last.calls).toBe(0);
    expect(queue.stats()).toMatchObject({ running: 1, queued: 1 });
  });

  it('reports stats and utilization', () => {
    const queue = queueWith({ maxConcurrency: 4 });
    expect(queue.stats()).toEqual({ running: 0, queued: 0, maxConcurrency: 4, utilizationPercent: 0, paused: false });
    void enqueue(queue, 'a', manualTask().task);
    expect(queue.stats().utilizationPercent).toBe(25);
    void enqueue(queue, 'b', manualTask().task);
    void enqueue(queue, 'c', manualTask().task);
    expect(queue.stats()).toEqual({ running: 3, queued: 0, maxConcurrency: 4, utilizationPercent: 75, paused: false });
    void queue.pause();
    void enqueue(queue, 'd', manualTask().task);
    expect(queue.stats()).toEqual({ running: 3, queued: 1, maxConcurrency: 4, utilizationPercent: 75, paused: true });
  });
});

describe('AgentExecutionQueue: leaving the line', () => {
  it('moves only the runs behind a cancelled one up by one, with exactly one event each', async () => {
    const queue = queueWith({ maxConcurrency: 1 });
    const tasks = new Map(['r', 'w1', 'w2', 'w3', 'w4', 'w5'].map((id) => [id, manualTask()]));
    for (const [id, task] of tasks) void enqueue(queue, id, task.task);
    const events = record(queue);

    expect(await queue.cancel('w2')).toBe(true);

    expect(events.map((event) => event.name)).toEqual(['left', 'position-changed', 'position-changed', 'position-changed', 'status']);
    expect(events[0]!.payload).toMatchObject({ id: 'w2', reason: 'cancelled' });
    expect(events.slice(1, 4).map((event) => event.payload)).toEqual([
      { id: 'w3', position: 2 },
      { id: 'w4', position: 3 },
      { id: 'w5', position: 4 },
    ]);
    expect(queue.waitingIds()).toEqual(['w1', 'w3', 'w4', 'w5']);
    expect(queue.position('w1')).toBe(1);
    expect(queue.position('w2')).toBe(0);

    expect(await queue.cancel('w2')).toBe(false);
    expect(await queue.cancel('r')).toBe(false);
    expect(await queue.cancel('unknown')).toBe(false);
    expect(queue.isRunning('r')).toBe(true);
  });

  it('never starts a cancelled run, and p-queue dropping it leaves no unhandled rejection', async () => {
    const unhandled = watchUnhandledRejections();
    try {
      const queue = queueWith({ maxConcurrency: 1 });
      const running = manualTask();
      const cancelled = manualTask();
      const next = manualTask();
      void enqueue(queue, 'r', running.task);
      void enqueue(queue, 'c', cancelled.task);
      void enqueue(queue, 'n', next.task);
      void queue.cancel('c');

      running.resolve();
      await flush();
      expect(cancelled.calls).toBe(0);
      expect(next.calls).toBe(1);
      await flush();
      expect(unhandled.reasons).toEqual([]);
    } finally {
      unhandled.stop();
    }
  });

  it('times a waiting run out after queueTimeoutMs: it leaves, never starts, and its timer is gone', async () => {
    vi.useFakeTimers();
    const queue = queueWith({ maxConcurrency: 1, queueTimeoutMs: 1_000 });
    const running = manualTask();
    const waiting = manualTask();
    const behind = manualTask();
    void enqueue(queue, 'r', running.task);
    void enqueue(queue, 'w', waiting.task);
    const events = record(queue);
    await vi.advanceTimersByTimeAsync(500);
    void enqueue(queue, 'b', behind.task);
    expect(vi.getTimerCount()).toBe(2);

    await vi.advanceTimersByTimeAsync(499);
    expect(queue.position('w')).toBe(1);
    await vi.advanceTimersByTimeAsync(1);

    expect(queue.position('w')).toBe(0);
    expect(events.filter((event) => event.name !== 'enqueued' && event.name !== 'status').map((e) => e.payload)).toEqual([
      { id: 'w', reason: 'timed-out', waitedMs: 1_000 },
      { id: 'b', position: 1 },
    ]);
    expect(vi.getTimerCount()).toBe(1);

    running.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(waiting.calls).toBe(0);
    expect(behind.calls).toBe(1);
    // 'b' started: its queue-timeout timer was cleared.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('times a restored run out at once when its queuedAt is older than the timeout', async () => {
    vi.useFakeTimers();
    const queue = queueWith({ maxConcurrency: 2, queueTimeoutMs: 1_000 });
    const events = record(queue);
    const restored = manualTask();
    const queuedAt = new Date(Date.now() - 5_000);

    const ticket = await enqueue(queue, 'restored', restored.task, { queuedAt });
    // A free slot does not start it; the caller gets its ticket before it leaves.
    expect(ticket.position).toBe(1);
    expect(restored.calls).toBe(0);

    await vi.advanceTimersByTimeAsync(0);
    expect(restored.calls).toBe(0);
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0 });
    expect(events.map((event) => event.name)).toEqual(['enqueued', 'status', 'left', 'status']);
    expect(events[0]!.payload).toMatchObject({ id: 'restored', queuedAt });
    expect(events[2]!.payload).toEqual({ id: 'restored', reason: 'timed-out', waitedMs: 5_000 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('counts a restored run’s timeout from its original queuedAt', async () => {
    vi.useFakeTimers();
    const queue = queueWith({ maxConcurrency: 1, queueTimeoutMs: 1_000 });
    void enqueue(queue, 'r', manualTask().task);
    const events = record(queue);
    void enqueue(queue, 'restored', manualTask().task, { queuedAt: new Date(Date.now() - 700) });

    await vi.advanceTimersByTimeAsync(299);
    expect(queue.position('restored')).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(events.find((event) => event.name === 'left')?.payload).toEqual({
      id: 'restored',
      reason: 'timed-out',
      waitedMs: 1_000,
    });
  });

  it('does not start a run whose deadline passed while its timer was late', async () => {
    let clock = 0;
    const queue = queueWith({ maxConcurrency: 1, queueTimeoutMs: 1_000, now: () => clock });
    const events = record(queue);
    const running = manualTask();
    const late = manualTask();
    void enqueue(queue, 'r', running.task);
    void enqueue(queue, 'late', late.task);

    clock = 1_000; // the real 1 s timer has not fired yet
    running.resolve();
    await flush();

    expect(late.calls).toBe(0);
    expect(events.find((event) => event.name === 'left')?.payload).toEqual({
      id: 'late',
      reason: 'timed-out',
      waitedMs: 1_000,
    });
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0 });
  });

  it('refuses a 4th waiting run with QUEUE_FULL at maxQueueLength 3', async () => {
    const queue = queueWith({ maxConcurrency: 1, maxQueueLength: 3 });
    void enqueue(queue, 'r', manualTask().task);
    for (const id of ['w1', 'w2', 'w3']) void enqueue(queue, id, manualTask().task);
    const events = record(queue);
    const refused = manualTask();

    const error = await rejection(enqueue(queue, 'w4', refused.task));

    expect(error).toBeInstanceOf(BosunError);
    expect((error as BosunError).code).toBe('QUEUE_FULL');
    expect((error as BosunError).message).toMatch(/at most 3 may wait/);
    expect(refused.calls).toBe(0);
    expect(events).toEqual([]);
    expect(queue.stats()).toMatchObject({ running: 1, queued: 3 });
  });

  it('refuses a duplicate id with INVALID_STATE while it waits or runs, and accepts it again once finished', async () => {
    const queue = queueWith({ maxConcurrency: 1 });
    const first = manualTask();
    void enqueue(queue, 'a', first.task);
    void enqueue(queue, 'b', manualTask().task);

    for (const id of ['a', 'b']) {
      const error = await rejection(enqueue(queue, id, manualTask().task));
      expect(error).toBeInstanceOf(BosunError);
      expect((error as BosunError).code).toBe('INVALID_STATE');
    }
    expect(queue.stats()).toMatchObject({ running: 1, queued: 1 });

    void queue.cancel('b');
    first.resolve();
    await flush();
    expect((await enqueue(queue, 'a', manualTask().task)).position).toBe(0);
  });
});

describe('AgentExecutionQueue: pause, failures and shutdown', () => {
  it('starts nothing while paused, keeps order and queue-timeout clocks, and starts on resume', async () => {
    vi.useFakeTimers();
    const queue = queueWith({ maxConcurrency: 2, queueTimeoutMs: 1_000 });
    const events = record(queue);
    void queue.pause();
    expect(queue.stats().paused).toBe(true);
    expect(events.map((event) => event.name)).toEqual(['status']);

    const tasks = new Map(['a', 'b', 'c'].map((id) => [id, manualTask()]));
    const tickets = await Promise.all([...tasks].map(([id, task]) => enqueue(queue, id, task.task)));
    expect(tickets.map((ticket) => ticket.position)).toEqual([1, 2, 3]);

    await vi.advanceTimersByTimeAsync(400);
    expect([...tasks.values()].map((task) => task.calls)).toEqual([0, 0, 0]);

    events.length = 0;
    void queue.resume();
    expect([...tasks.values()].map((task) => task.calls)).toEqual([1, 1, 0]);
    expect(events.filter((event) => event.name === 'started').map((event) => event.payload)).toEqual([
      { id: 'a', waitedMs: 400 },
      { id: 'b', waitedMs: 400 },
    ]);
    expect(events.at(-1)).toEqual({
      name: 'status',
      payload: { running: 2, queued: 1, maxConcurrency: 2, utilizationPercent: 100, paused: false },
    });

    // 'c' entered the line while paused; its clock kept running through the pause.
    void queue.pause();
    await vi.advanceTimersByTimeAsync(600);
    expect(events.find((event) => event.name === 'left')?.payload).toEqual({
      id: 'c',
      reason: 'timed-out',
      waitedMs: 1_000,
    });
    expect(tasks.get('c')!.calls).toBe(0);
  });

  it('reports a rejecting task as finished with its error, frees the slot, and leaves no unhandled rejection', async () => {
    const unhandled = watchUnhandledRejections();
    try {
      const queue = queueWith({ maxConcurrency: 1 });
      const events = record(queue);
      const boom = new Error('boom');
      const syncBoom = new Error('sync boom');
      const failing = manualTask();
      const next = manualTask();
      void enqueue(queue, 'failing', failing.task);
      void enqueue(queue, 'throws-sync', () => {
        throw syncBoom;
      });
      void enqueue(queue, 'next', next.task);

      failing.reject(boom);
      await flush();
      await flush();

      expect(next.calls).toBe(1);
      const finished = events.filter((event) => event.name === 'finished').map((event) => event.payload);
      expect(finished).toEqual([
        { id: 'failing', error: boom },
        { id: 'throws-sync', error: syncBoom },
      ]);
      expect(queue.stats()).toMatchObject({ running: 1, queued: 0 });
      next.resolve();
      await queue.onIdle();
      expect(events.filter((event) => event.name === 'finished').at(-1)?.payload).toEqual({ id: 'next' });
      await flush();
      expect(unhandled.reasons).toEqual([]);
    } finally {
      unhandled.stop();
    }
  });

  it('close() clears the line, aborts running signals, clears timers, and is idempotent', async () => {
    vi.useFakeTimers();
    const queue = queueWith({ maxConcurrency: 1, queueTimeoutMs: 1_000 });
    const running = manualTask();
    const waiting = [manualTask(), manualTask()];
    void enqueue(queue, 'r', running.task);
    void enqueue(queue, 'w1', waiting[0]!.task);
    void enqueue(queue, 'w2', waiting[1]!.task);
    const events = record(queue);
    await vi.advanceTimersByTimeAsync(100);

    void queue.close();

    expect(events.map((event) => event.name)).toEqual(['left', 'left', 'status']);
    expect(events.slice(0, 2).map((event) => event.payload)).toEqual([
      { id: 'w1', reason: 'cleared', waitedMs: 100 },
      { id: 'w2', reason: 'cleared', waitedMs: 100 },
    ]);
    expect(running.signal?.aborted).toBe(true);
    expect((running.signal?.reason as BosunError).code).toBe('SHUTTING_DOWN');
    expect(queue.stats()).toMatchObject({ running: 1, queued: 0, paused: true });
    expect(vi.getTimerCount()).toBe(0);

    events.length = 0;
    void queue.close();
    void queue.resume();
    expect(events).toEqual([]);
    const error = await rejection(enqueue(queue, 'late', manualTask().task));
    expect((error as BosunError).code).toBe('SHUTTING_DOWN');

    running.resolve();
    await queue.onIdle();
    expect(waiting.map((task) => task.calls)).toEqual([0, 0]);
    expect(events.map((event) => event.name)).toEqual(['finished', 'status']);
  });

  it('keeps its state when a listener throws, and rethrows the listener error on the next tick', async () => {
    const queue = queueWith({ maxConcurrency: 1 });
    const listenerError = new Error('listener bug');
    queue.events.on('started', () => {
      throw listenerError;
    });
    const statuses: number[] = [];
    queue.events.on('status', (stats) => statuses.push(stats.running));
    const deferred: Array<() => unknown> = [];
    const nextTick = vi.spyOn(process, 'nextTick').mockImplementation((callback) => {
      deferred.push(callback as () => unknown);
    });
    const task = manualTask();
    let entering;
    try {
      entering = enqueue(queue, 'a', task.task);
    } finally {
      nextTick.mockRestore();
    }

    expect((await entering).position).toBe(0);
    expect(task.calls).toBe(1);
    expect(queue.isRunning('a')).toBe(true);
    expect(statuses).toEqual([1, 1]);
    expect(deferred).toHaveLength(1);
    expect(() => deferred[0]!()).toThrow(listenerError);
  });

  it('onIdle resolves only when nothing runs and nothing waits', async () => {
    const queue = queueWith({ maxConcurrency: 1 });
    const first = manualTask();
    const second = manualTask();
    void enqueue(queue, 'a', first.task);
    void enqueue(queue, 'b', second.task);
    let idle = false;
    const idlePromise = queue.onIdle().then(() => {
      idle = true;
    });

    first.resolve();
    await flush();
    expect(idle).toBe(false);
    expect(queue.isRunning('b')).toBe(true);

    second.resolve();
    await idlePromise;
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0 });
    // Every slot is free again: a new run starts at once.
    expect((await enqueue(queue, 'c', manualTask().task)).position).toBe(0);
  });
});

describe('AgentExecutionQueue: validation', () => {
  const valid: AgentExecutionQueueOptions = { runTask: () => Promise.resolve(), maxConcurrency: 1, maxQueueLength: 10, queueTimeoutMs: 1_000 };

  it.each([
    [{ ...valid, maxConcurrency: -1 }, 'Expected maxConcurrency to be an integer of at least 0 (0 = unlimited), got -1'],
    [{ ...valid, maxConcurrency: 1.5 }, 'Expected maxConcurrency to be an integer of at least 0 (0 = unlimited), got 1.5'],
    [{ ...valid, maxConcurrency: '2' }, 'Expected maxConcurrency to be an integer of at least 0 (0 = unlimited), got "2"'],
    [{ ...valid, maxQueueLength: 0 }, 'Expected maxQueueLength to be an integer of at least 1, got 0'],
    [{ ...valid, maxQueueLength: undefined }, 'Expected maxQueueLength to be an integer of at least 1, got undefined'],
    [{ ...valid, queueTimeoutMs: 0 }, 'Expected queueTimeoutMs to be an integer from 1 to 2147483647, got 0'],
    [{ ...valid, queueTimeoutMs: Infinity }, 'Expected queueTimeoutMs to be an integer from 1 to 2147483647, got Infinity'],
    [{ ...valid, now: 5 }, 'Expected now to be a function, got 5'],
    [{ ...valid, runTask: undefined }, 'Expected runTask to be a function, got undefined'],
    [null, 'Expected an options object, got null'],
  ])('rejects %o', (options, message) => {
    expect(() => new AgentExecutionQueue(options as unknown as AgentExecutionQueueOptions)).toThrow(new TypeError(message));
  });

  it('validates setMaxConcurrency and emits status only on a change', async () => {
    const queue = queueWith({ maxConcurrency: 1 });
    const events = record(queue);
    const error = await rejection(queue.setMaxConcurrency(-1));
    expect(error).toBeInstanceOf(InvalidValueError);
    expect((error as Error).message).toBe('Expected an integer of at least 0 (0 = unlimited), got -1');
    await expect(queue.setMaxConcurrency(Number.NaN)).rejects.toThrow('got NaN');
    void queue.setMaxConcurrency(1);
    expect(events).toEqual([]);
    void queue.setMaxConcurrency(2);
    expect(events).toEqual([{ name: 'status', payload: { running: 0, queued: 0, maxConcurrency: 2, utilizationPercent: 0, paused: false } }]);
  });

  it('validates enqueue arguments', async () => {
    const queue = queueWith();
    await expect(enqueue(queue, '', manualTask().task)).rejects.toThrow('Expected id to be a non-empty string, got ""');
    await expect(enqueue(queue, 'a', manualTask().task, { queuedAt: new Date(Number.NaN) })).rejects.toThrow(
      'Expected queuedAt to be a valid Date, got object',
    );
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0 });
  });
});

describe('AgentExecutionQueue: one line', () => {
  it('keeps positions, ids and start order right after cancels in the middle', async () => {
    const queue = queueWith({ maxConcurrency: 1 });
    const ids = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7'];
    const running = manualTask();
    void enqueue(queue, 'r', running.task);
    const startOrder: string[] = [];
    const tasks = new Map(ids.map((id) => [id, manualTask(() => startOrder.push(id))]));
    for (const [id, task] of tasks) void enqueue(queue, id, task.task);
    const events = record(queue);

    expect(await queue.cancel('w3')).toBe(true);
    expect(await queue.cancel('w6')).toBe(true);
    expect(await queue.cancel('w2')).toBe(true);

    expect(queue.waitingIds()).toEqual(['w1', 'w4', 'w5', 'w7']);
    expect(['w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7'].map((id) => queue.position(id))).toEqual([1, 0, 0, 2, 3, 0, 4]);
    expect(queue.stats().queued).toBe(4);
    // w7 moved up once per cancel ahead of it: 7 → 6 → 5 → 4.
    const w7 = events.flatMap((event) => (event.name === 'position-changed' && event.payload.id === 'w7' ? [event.payload.position] : []));
    expect(w7).toEqual([6, 5, 4]);

    running.resolve();
    for (const id of ['w1', 'w4', 'w5']) {
      await vi.waitFor(() => expect(tasks.get(id)!.calls).toBe(1));
      expect(queue.position('w7')).toBe(['w1', 'w4', 'w5'].indexOf(id) === 2 ? 1 : 3 - ['w1', 'w4', 'w5'].indexOf(id));
      tasks.get(id)!.resolve();
    }
    await vi.waitFor(() => expect(tasks.get('w7')!.calls).toBe(1));
    tasks.get('w7')!.resolve();
    await queue.onIdle();
    expect(startOrder).toEqual(['w1', 'w4', 'w5', 'w7']);
  });

  it('times out a run in the middle of the line (restored with an older queuedAt) and moves up only those behind it', async () => {
    vi.useFakeTimers();
    const queue = queueWith({ maxConcurrency: 1, queueTimeoutMs: 1_000 });
    void enqueue(queue, 'r', manualTask().task);
    void enqueue(queue, 'w1', manualTask().task);
    void enqueue(queue, 'restored', manualTask().task, { queuedAt: new Date(Date.now() - 700) });
    void enqueue(queue, 'w3', manualTask().task);
    const events = record(queue);

    await vi.advanceTimersByTimeAsync(300);

    expect(events.filter((event) => event.name !== 'status').map((event) => event.payload)).toEqual([
      { id: 'restored', reason: 'timed-out', waitedMs: 1_000 },
      { id: 'w3', position: 2 },
    ]);
    expect(queue.waitingIds()).toEqual(['w1', 'w3']);
    expect([queue.position('w1'), queue.position('w3')]).toEqual([1, 2]);
    // w1 and w3 entered in the same millisecond: they share their deadline's timer.
    expect(vi.getTimerCount()).toBe(1);
  });

  it('starts a fresh run at once past a restored run that is held in line until its zero-delay timer', async () => {
    vi.useFakeTimers();
    const queue = queueWith({ maxConcurrency: 1, queueTimeoutMs: 1_000 });
    const restored = manualTask();
    const fresh = manualTask();
    expect((await enqueue(queue, 'restored', restored.task, { queuedAt: new Date(Date.now() - 5_000) })).position).toBe(1);
    expect((await enqueue(queue, 'fresh', fresh.task)).position).toBe(0);
    expect(fresh.calls).toBe(1);
    expect(queue.position('restored')).toBe(1);
    expect(queue.stats()).toMatchObject({ running: 1, queued: 1 });

    await vi.advanceTimersByTimeAsync(0);
    expect(restored.calls).toBe(0);
    expect(queue.stats()).toMatchObject({ running: 1, queued: 0 });
  });

  it('keeps event order when a task enqueues another run from its synchronous part', () => {
    const queue = queueWith({ maxConcurrency: 2 });
    const events = record(queue);
    const inner = manualTask();
    void enqueue(queue, 'outer', () => {
      void enqueue(queue, 'inner', inner.task);
      return new Promise<void>(() => {});
    });

    expect(inner.calls).toBe(1);
    // Each status is the snapshot taken when its change happened; the inner run's events come after the outer's.
    expect(events.map((event) => [event.name, 'id' in event.payload ? event.payload.id : event.payload.running])).toEqual([
      ['enqueued', 'outer'],
      ['status', 2],
      ['started', 'outer'],
      ['status', 1],
      ['enqueued', 'inner'],
      ['status', 2],
      ['started', 'inner'],
      ['status', 2],
    ]);
  });

  it('gives every running task a signal that only close() aborts', async () => {
    const queue = queueWith({ maxConcurrency: 2 });
    const first = manualTask();
    const second = manualTask();
    void enqueue(queue, 'a', first.task);
    void enqueue(queue, 'b', second.task);
    first.resolve();
    await flush();
    expect(second.signal?.aborted).toBe(false);
    void queue.close();
    expect(second.signal?.aborted).toBe(true);
  });

  it('dispatches 100,000 runs in the order they entered, with every position right on entry', async () => {
    const count = 100_000;
    const queue = queueWith({ maxConcurrency: 10, maxQueueLength: count });
    const started: number[] = [];
    const entering: Array<Promise<QueueTicket>> = [];
    for (let index = 0; index < count; index += 1) {
      const task = () => {
        started.push(index);
        return Promise.resolve();
      };
      // Entered inside the call: each position is the one on entry, with nothing settled in between.
      entering.push(enqueue(queue, `run-${index}`, task));
    }
    expect(queue.stats()).toMatchObject({ running: 10, queued: count - 10 });
    expect(queue.position('run-50000')).toBe(50_000 - 9);
    const positions = (await Promise.all(entering)).map((ticket) => ticket.position);
    await queue.onIdle();

    expect(started.length).toBe(count);
    expect(started.every((value, index) => value === index)).toBe(true);
    expect(positions.every((position, index) => position === Math.max(0, index - 9))).toBe(true);
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0 });
  });
});
