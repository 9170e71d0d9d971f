/**
 * The run streams over the fakes, without GraphQL: what each sends, in which order, when it
 * completes, and that it lets go of the services.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { LogLine } from '../../src/runs/agent-run.js';
import type { RunService } from '../../src/runs/run-service.js';
import { agentLogs, agentRunUpdated, SUBSCRIBER_TOO_SLOW } from '../../src/api/run-streams.js';
import { StreamFailure, type StreamItem } from '../../src/api/streams/event-channel.js';
import { StreamRegistry } from '../../src/api/streams/stream-registry.js';
import { BosunError } from '../../src/errors.js';
import { createFakeServices, listenerTotal, type FakeServices } from '../helpers/fake-services.js';
import type { FakeRunService } from '../helpers/fake-run-service.js';
import { buffered, codeOf, INPUT } from './stream-helpers.js';

let services: FakeServices;
let streams: StreamRegistry;

beforeEach(() => {
  services = createFakeServices();
  streams = new StreamRegistry();
});

describe('agentRunUpdated', () => {
  it('follows one run to its final status, or every run without an id', async () => {
    const { run } = await services.runs.start(INPUT);
    const one = agentRunUpdated(services, streams, run.id);
    const all = agentRunUpdated(services, streams, null);
    const { run: other } = await services.runs.start(INPUT);
    services.runs.update(run.id, { exitCode: 0 });
    services.runs.finish(run.id);
    services.runs.update(run.id, { error: 'after the end' });
    expect((await buffered(one)).items.map((item) => (item as { status: string }).status)).toEqual(['RUNNING', 'SUCCEEDED']);
    expect(one.isClosed).toBe(true);
    const seen = (await buffered(all)).items.map((item) => (item as { id: string }).id);
    expect(seen).toEqual([other.id, run.id, run.id, run.id]);
    expect(all.isOpen).toBe(true);
    await all.return();
    expect(listenerTotal(services)).toBe(0);
  });

  it('sends a finished run once and completes; refuses an unknown one', async () => {
    const { run } = await services.runs.start(INPUT);
    services.runs.finish(run.id, 'FAILED', 'NON_ZERO_EXIT');
    const { items, done } = await buffered(agentRunUpdated(services, streams, run.id));
    expect(items).toMatchObject([{ id: run.id, status: 'FAILED', failureReason: 'NON_ZERO_EXIT' }]);
    expect(done).toBe(true);
    expect(codeOf(() => agentRunUpdated(services, streams, 'nope'))).toBe('NOT_FOUND');
  });
});

describe('agentLogs', () => {
  const seqs = (items: readonly StreamItem<LogLine>[]): number[] => items.map((item) => (item as LogLine).seq);

  /** The fake run service with `logs` replaced. */
  function withLogs(fake: FakeRunService, logs: RunService['logs']): { runs: RunService } {
    const runs: RunService = {
      events: fake.events,
      start: (input) => fake.start(input),
      retry: (id) => fake.retry(id),
      cancel: (id) => fake.cancel(id),
      get: (id) => fake.get(id),
      list: (query) => fake.list(query),
      position: (id) => fake.position(id),
      logs,
    };
    return { runs };
  }

  it('replays after afterSeq, then follows live lines, and completes after the final status', async () => {
    const { run } = await services.runs.start(INPUT);
    for (let n = 1; n <= 3; n += 1) services.runs.log(run.id, `line ${n}`);
    const stream = agentLogs(services, streams, run.id, 1);
    services.runs.log(run.id, 'line 4');
    services.runs.finish(run.id);
    const { items, done } = await buffered(stream);
    expect(seqs(items)).toEqual([2, 3, 4]);
    expect(done).toBe(true);
    expect(listenerTotal(services)).toBe(0);
  });

  it('drops a live line that the replay already holds', async () => {
    const { run } = await services.runs.start(INPUT);
    services.runs.log(run.id, 'line 1');
    const racing = withLogs(services.runs, (id, query) => {
      services.runs.log(id, 'line 2'); // recorded and emitted while the buffer is read
      return services.runs.logs(id, query);
    });
    const stream = agentLogs(racing, streams, run.id, 0);
    services.runs.log(run.id, 'line 3');
    expect(seqs((await buffered(stream)).items)).toEqual([1, 2, 3]);
  });

  it('keeps a live line that came after the replay was read', async () => {
    const { run } = await services.runs.start(INPUT);
    services.runs.log(run.id, 'line 1');
    const racing = withLogs(services.runs, (id, query) => {
      const snapshot = services.runs.logs(id, query);
      services.runs.log(id, 'line 2'); // emitted after the snapshot was taken
      return snapshot;
    });
    const stream = agentLogs(racing, streams, run.id, null);
    expect(seqs((await buffered(stream)).items)).toEqual([1, 2]);
  });

  it('sends lines recorded before the final status even if their events never came', async () => {
    const { run } = await services.runs.start(INPUT);
    const stream = agentLogs(services, streams, run.id, undefined);
    services.runs.log(run.id, 'line 1');
    services.runs.recordSilently(run.id, 'line 2');
    services.runs.finish(run.id);
    const { items, done } = await buffered(stream);
    expect(seqs(items)).toEqual([1, 2]);
    expect(done).toBe(true);
  });

  it('replays a finished run and completes at once', async () => {
    const { run } = await services.runs.start(INPUT);
    services.runs.log(run.id, 'line 1');
    services.runs.log(run.id, 'line 2');
    services.runs.finish(run.id);
    const { items, done } = await buffered(agentLogs(services, streams, run.id, 0));
    expect(seqs(items)).toEqual([1, 2]);
    expect(done).toBe(true);
  });

  it('ends a stream that falls too far behind with an error that says where to resume', async () => {
    const { run } = await services.runs.start(INPUT);
    for (let n = 1; n <= 5; n += 1) services.runs.log(run.id, `line ${n}`); // replay: not counted
    const stream = agentLogs(services, streams, run.id, 0, { capacity: 3 });
    for (let n = 6; n <= 10; n += 1) services.runs.log(run.id, `line ${n}`);
    expect(listenerTotal(services)).toBe(0); // stopped listening at the overflow
    const { items, done } = await buffered(stream);
    expect(seqs(items.slice(0, 8))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const failure = items[8];
    expect(failure).toBeInstanceOf(StreamFailure);
    const error = (failure as StreamFailure).error as Error & { extensions: Record<string, unknown> };
    expect(error.extensions).toEqual({ code: SUBSCRIBER_TOO_SLOW, resumeAfterSeq: 8 });
    expect(error.message).toBe('agentLogs: the subscriber fell more than 3 lines behind; subscribe again with afterSeq: 8');
    expect(done).toBe(true);

    // Resuming where it said sends the rest exactly once.
    const resumed = agentLogs(services, streams, run.id, 8);
    expect(seqs((await buffered(resumed)).items)).toEqual([9, 10]);
  });

  it('checks its arguments before listening', async () => {
    const { run } = await services.runs.start(INPUT);
    expect(codeOf(() => agentLogs(services, streams, run.id, -1))).toBe('BAD_USER_INPUT');
    expect(codeOf(() => agentLogs(services, streams, 'nope', 0))).toBe('NOT_FOUND');
    services.runs.failNext('logs', new BosunError('NOT_FOUND', 'gone meanwhile'));
    expect(codeOf(() => agentLogs(services, streams, run.id, 0))).toBe('NOT_FOUND');
    expect(streams.size).toBe(0);
    expect(listenerTotal(services)).toBe(0);
  });
});
