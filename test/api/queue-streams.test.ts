/**
 * The queue streams over the fakes, without GraphQL: what each sends, in which order, when it
 * completes, and that it lets go of the services.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { queuePositionChanged, queueStatusChanged } from '../../src/api/queue-streams.js';
import { StreamRegistry } from '../../src/api/streams/stream-registry.js';
import { createFakeServices, listenerTotal, type FakeServices } from '../helpers/fake-services.js';
import { buffered, codeOf, INPUT } from './stream-helpers.js';

let services: FakeServices;
let streams: StreamRegistry;

beforeEach(() => {
  services = createFakeServices();
  streams = new StreamRegistry();
});

describe('queueStatusChanged', () => {
  it('sends the current status, then each change', async () => {
    const stream = queueStatusChanged(services, streams);
    await services.queue.setMaxConcurrency(3);
    await services.runs.start(INPUT);
    const { items } = await buffered(stream);
    expect(items.map((stats) => stats as { maxConcurrency: number; running: number })).toMatchObject([
      { maxConcurrency: 1, running: 0 },
      { maxConcurrency: 3, running: 0 },
      { maxConcurrency: 3, running: 1 },
    ]);
    await stream.return();
    expect(listenerTotal(services)).toBe(0);
  });
});

describe('queuePositionChanged', () => {
  it('refuses an unknown run with NOT_FOUND and opens nothing', async () => {
    expect(await codeOf(() => queuePositionChanged(services, streams, 'nope'))).toBe('NOT_FOUND');
    expect(streams.size).toBe(0);
    expect(listenerTotal(services)).toBe(0);
  });

  it('sends one update and completes for a run that is not waiting', async () => {
    const { run } = await services.runs.start(INPUT);
    const { items, done } = await buffered(await queuePositionChanged(services, streams, run.id));
    expect(items).toEqual([{ agentId: run.id, status: 'RUNNING', position: 0, queued: 0, running: 1 }]);
    expect(done).toBe(true);
  });

  it('follows changes without repeating a position, and completes on a final status', async () => {
    await services.runs.start(INPUT);
    const { run: second } = await services.runs.start(INPUT);
    const { run: third } = await services.runs.start(INPUT);
    const stream = await queuePositionChanged(services, streams, third.id);
    services.queue.events.emit('position-changed', { id: third.id, position: 2 }); // no change
    await services.runs.cancel(second.id); // third moves up
    await services.runs.cancel(third.id);
    const { items, done } = await buffered(stream);
    expect(items).toMatchObject([
      { status: 'QUEUED', position: 2 },
      { status: 'QUEUED', position: 1 },
      { status: 'CANCELLED', position: 0 },
    ]);
    expect(done).toBe(true);
    expect(listenerTotal(services)).toBe(0);
  });
});
