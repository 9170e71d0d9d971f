/**
 * Waiting in line: positions are reported once each as they change, the wait ends with the run
 * once it is no longer QUEUED, an abort ends it with the signal's reason, and a WebSocket that
 * cannot be opened falls back to polling (GraphQL errors do not).
 */
import type { Client, Sink } from 'graphql-ws/client';
import { describe, expect, it } from 'vitest';
import { BosunClientError } from '../../src/client/errors.js';
import { waitWhileQueued, type QueueWaitDependencies } from '../../src/client/queue-wait.js';
import type { AgentStatus, RunInfo } from '../../src/client/types.js';

const run = (status: AgentStatus, position = 0): RunInfo => ({ id: 'r1', status, position }) as RunInfo;

/** readRun answering the given runs in turn (the last one from then on). */
function polling(runs: readonly RunInfo[]): QueueWaitDependencies & { reads: () => number } {
  let reads = 0;
  return {
    openWebSocket: () => undefined,
    readRun: () => Promise.resolve(runs[Math.min(reads++, runs.length - 1)]!),
    pollIntervalMs: 1,
    reads: () => reads,
  };
}

type Emit = (sink: Sink<unknown>) => void;

/** A graphql-ws client whose one subscription is driven by `emit` (asynchronously, as the real one). */
function socket(emit: Emit): { client: Client; unsubscribed: () => boolean; disposed: () => boolean } {
  let unsubscribed = false;
  let disposed = false;
  const client = {
    subscribe: (_payload: unknown, sink: Sink<unknown>) => {
      setImmediate(() => emit(sink));
      return () => {
        unsubscribed = true;
      };
    },
    dispose: () => {
      disposed = true;
      return Promise.resolve();
    },
  } as unknown as Client;
  return { client, unsubscribed: () => unsubscribed, disposed: () => disposed };
}

describe('waitWhileQueued', () => {
  it('polls without a WebSocket, reporting each new position once', async () => {
    const positions: number[] = [];
    const dependencies = polling([run('QUEUED', 3), run('QUEUED', 3), run('QUEUED', 2), run('QUEUED', 1), run('RUNNING')]);
    const done = await waitWhileQueued(dependencies, 'r1', 3, { onPosition: (position) => positions.push(position) });
    expect(done.status).toBe('RUNNING');
    expect(positions).toEqual([3, 2, 1]);
    expect(dependencies.reads()).toBe(5);
  });

  it('ends with the run that ended in line', async () => {
    expect((await waitWhileQueued(polling([run('QUEUED', 1), run('CANCELLED')]), 'r1', 1)).status).toBe('CANCELLED');
  });

  it('follows queuePositionChanged on a client of its own, then reads the run', async () => {
    const positions: number[] = [];
    const { client, unsubscribed, disposed } = socket((sink) => {
      for (const [position, status] of [
        [2, 'QUEUED'],
        [1, 'QUEUED'],
        [0, 'RUNNING'],
      ] as const)
        sink.next({ data: { queuePositionChanged: { position, status } } });
    });
    const dependencies = { ...polling([run('RUNNING')]), openWebSocket: () => client };
    const done = await waitWhileQueued(dependencies, 'r1', 2, { onPosition: (position) => positions.push(position) });
    expect(done.status).toBe('RUNNING');
    expect(positions).toEqual([2, 1]);
    expect(unsubscribed()).toBe(true);
    expect(disposed()).toBe(true);
    expect(dependencies.reads()).toBe(1);
  });

  it('falls back to polling when the WebSocket fails, but not on a GraphQL error', async () => {
    const broken = socket((sink) => sink.error({ code: 1006, reason: '' }));
    const dependencies = { ...polling([run('QUEUED', 1), run('RUNNING')]), openWebSocket: () => broken.client };
    expect((await waitWhileQueued(dependencies, 'r1', 1)).status).toBe('RUNNING');
    expect(broken.disposed()).toBe(true);

    const refused = socket((sink) => sink.next({ errors: [{ message: 'agentId: no agent run', extensions: { code: 'NOT_FOUND' } }] }));
    const error = await waitWhileQueued({ ...polling([run('RUNNING')]), openWebSocket: () => refused.client }, 'r1', 1).catch(
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(BosunClientError);
    expect(error).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('rejects with the signal’s reason when it aborts, while polling or subscribed', async () => {
    const reason = new Error('no longer wanted');
    const controller = new AbortController();
    const waiting = waitWhileQueued(polling([run('QUEUED', 4)]), 'r1', 4, { signal: controller.signal });
    setTimeout(() => controller.abort(reason), 20);
    await expect(waiting).rejects.toBe(reason);

    const silent = socket(() => undefined);
    const second = new AbortController();
    const subscribed = waitWhileQueued({ ...polling([run('QUEUED', 4)]), openWebSocket: () => silent.client }, 'r1', 4, { signal: second.signal });
    setTimeout(() => second.abort(reason), 20);
    await expect(subscribed).rejects.toBe(reason);
    expect(silent.unsubscribed()).toBe(true);
    expect(silent.disposed()).toBe(true);
  });
});
