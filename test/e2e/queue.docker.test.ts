/**
 * End to end: the FIFO queue as the API shows it, with real runs in real containers — tickets,
 * `queuePositionChanged`, and every transition over `queueStatusChanged` (graphql-ws) and
 * `agentRunUpdated` (SSE).
 */
import type { Client } from 'graphql-ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collapse, collect, gql, readToEnd, sseSubscription, startRun, waitForFinal, type RunState } from '../helpers/e2e.js';
import { createWsClient, eventually } from '../helpers/graphql-clients.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

let app: TestApp;
let client: Client;

beforeEach(async () => {
  app = await startTestApp({ MAX_CONCURRENT_AGENTS: '3' });
  client = createWsClient(app.wsUrl);
});

afterEach(async () => {
  await client.dispose();
  expect(await app.close(), 'containers left behind by the app').toBe(0);
});

interface QueueStatus {
  readonly running: number;
  readonly queued: number;
  readonly maxConcurrency: number;
}

describe('queue positions', () => {
  it('gives tickets 0, 1, 2 at concurrency 1, and queuePositionChanged follows the third run 2, 1, 0, then completes', async () => {
    const { setMaxConcurrency } = await gql(app.url, 'mutation { setMaxConcurrency(value: 1) { maxConcurrency running queued } }');
    expect(setMaxConcurrency).toEqual({ maxConcurrency: 1, running: 0, queued: 0 });

    const runs = [];
    for (let i = 0; i < 3; i += 1) runs.push(await startRun(app.url, { steps: ['sleep 1'] }));
    expect(runs.map((run) => run.queue.position)).toEqual([0, 1, 2]);
    expect(runs.map((run) => run.status)).toEqual(['RUNNING', 'QUEUED', 'QUEUED']);
    expect(runs.map((run) => run.queue)).toEqual([
      { position: 0, running: 1, queued: 0, maxConcurrency: 1 },
      { position: 1, running: 1, queued: 1, maxConcurrency: 1 },
      { position: 2, running: 1, queued: 2, maxConcurrency: 1 },
    ]);

    const third = runs[2]!.agentId;
    const updates = await readToEnd(
      client.iterate<{ queuePositionChanged: { agentId: string; status: string; position: number } }>({
        query: 'subscription ($id: ID!) { queuePositionChanged(agentId: $id) { agentId status position } }',
        variables: { id: third },
      }),
      'queuePositionChanged of the third run',
    );
    expect(updates.map((update) => update.data?.queuePositionChanged)).toEqual([
      { agentId: third, status: 'QUEUED', position: 2 },
      { agentId: third, status: 'QUEUED', position: 1 },
      { agentId: third, status: 'RUNNING', position: 0 },
    ]);

    // They ran one after the other, first come first served.
    const finished = await Promise.all(
      runs.map((run) =>
        waitForFinal<{ status: string; startedAt: string; finishedAt: string }>(app.url, run.agentId, 30_000, 'startedAt finishedAt'),
      ),
    );
    expect(finished.map((run) => run.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    for (let i = 1; i < finished.length; i += 1) {
      expect(Date.parse(finished[i]!.startedAt)).toBeGreaterThanOrEqual(Date.parse(finished[i - 1]!.finishedAt));
    }
  });
});

describe('transitions', () => {
  it('queueStatusChanged (graphql-ws) and agentRunUpdated (SSE) deliver every transition of a run, in order', async () => {
    await gql(app.url, 'mutation { setMaxConcurrency(value: 1) { maxConcurrency } }');
    const statuses = collect(
      client.iterate<{ queueStatusChanged: QueueStatus }>({ query: 'subscription { queueStatusChanged { running queued maxConcurrency } }' }),
    );
    const allRuns = sseSubscription<{ agentRunUpdated: { id: string; status: string } }>(app.url, 'subscription { agentRunUpdated { id status } }');
    const firstAll = allRuns.next('the first agentRunUpdated event'); // sends the request
    await eventually(() => app.app.server.streams.size === 2 && statuses.results.length === 1, 'both subscriptions are open', 5_000);
    expect(statuses.results[0]?.data?.queueStatusChanged).toEqual({ running: 0, queued: 0, maxConcurrency: 1 });

    // A holds the only slot, so B waits in line: QUEUED, then RUNNING, then SUCCEEDED.
    const a = await startRun(app.url, { steps: ['sleep 1'] });
    const b = await startRun(app.url, { steps: ['echo b'] });
    expect([a.status, b.status]).toEqual(['RUNNING', 'QUEUED']);

    const oneRun = sseSubscription<{ agentRunUpdated: Omit<RunState, 'error'> }>(
      app.url,
      'subscription ($id: ID) { agentRunUpdated(agentId: $id) { id status containerId exitCode failureReason } }',
      { id: b.agentId },
    );
    const snapshots: Omit<RunState, 'error'>[] = [];
    for (;;) {
      const result = await oneRun.next(`agentRunUpdated of run B (after ${snapshots.length})`, 20_000);
      if (result === undefined) break; // complete
      expect(result.errors).toBeUndefined();
      snapshots.push(result.data!.agentRunUpdated);
    }
    oneRun.close();
    // B was QUEUED when the stream opened: it then started, and the stream completed after its final status.
    expect(collapse(snapshots.map((run) => run.status))).toEqual(['RUNNING', 'SUCCEEDED']);
    expect(snapshots.at(-1)).toMatchObject({ id: b.agentId, status: 'SUCCEEDED', exitCode: 0, failureReason: null });
    expect(snapshots.every((run) => run.id === b.agentId)).toBe(true);

    // The stream of every run saw both runs from the moment they were queued.
    const seen: { id: string; status: string }[] = [];
    seen.push((await firstAll)!.data!.agentRunUpdated);
    while (!seen.some((run) => run.id === b.agentId && run.status === 'SUCCEEDED')) {
      seen.push((await allRuns.next('agentRunUpdated of every run'))!.data!.agentRunUpdated);
    }
    allRuns.close();
    const statusesOf = (id: string) => collapse(seen.filter((run) => run.id === id).map((run) => run.status));
    expect(statusesOf(a.agentId)).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
    expect(statusesOf(b.agentId)).toEqual(['QUEUED', 'RUNNING', 'SUCCEEDED']);
    // B started only after A had finished (FIFO at concurrency 1).
    const order = seen.map((run) => `${run.id === a.agentId ? 'A' : 'B'}:${run.status}`);
    expect(order.lastIndexOf('A:SUCCEEDED')).toBeLessThan(order.indexOf('B:RUNNING'));

    // The queue's status went through every step: A runs, B joins the line, B takes A's slot, all idle.
    await eventually(
      () => JSON.stringify(statuses.results.at(-1)?.data?.queueStatusChanged) === JSON.stringify({ running: 0, queued: 0, maxConcurrency: 1 }),
      'the queue is idle again',
      10_000,
    );
    await statuses.stop();
    const counts = collapse(
      statuses.results.map((result) => {
        const { running, queued } = result.data!.queueStatusChanged;
        return { running, queued };
      }),
    );
    expect(counts.every((status) => status.running <= 1)).toBe(true);
    // Between A's end and B's start the queue may report the moment when B has not yet started.
    expect(counts.filter((status) => !(status.running === 0 && status.queued === 1))).toEqual([
      { running: 0, queued: 0 },
      { running: 1, queued: 0 },
      { running: 1, queued: 1 },
      { running: 1, queued: 0 },
      { running: 0, queued: 0 },
    ]);
  });
});
