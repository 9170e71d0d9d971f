/**
 * Subscriptions over SSE (yoga's default transport for HTTP clients).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listenerTotal, type FakeServices } from '../helpers/fake-services.js';
import { eventually, sseEvents, within, type SseEvent } from '../helpers/graphql-clients.js';
import { startTestServer, type TestServer } from '../helpers/start-test-server.js';

let test: TestServer<FakeServices>;

beforeEach(async () => {
  test = await startTestServer();
});

afterEach(async () => {
  await test.close();
});

async function next(events: AsyncGenerator<SseEvent, undefined, undefined>): Promise<SseEvent | undefined> {
  return (await within(events.next(), 'the next SSE event')).value;
}

describe('subscriptions over SSE', () => {
  it('streams queueStatusChanged and lets go of the services when the client goes away', async () => {
    const baseline = listenerTotal(test.services);
    const abort = new AbortController();
    const events = sseEvents(test.url, 'subscription { queueStatusChanged { queued maxConcurrency } }', undefined, abort.signal);

    expect(await next(events)).toEqual({
      event: 'next',
      data: JSON.stringify({ data: { queueStatusChanged: { queued: 0, maxConcurrency: 1 } } }),
    });
    await test.services.queue.setMaxConcurrency(5);
    const change = await next(events);
    expect(JSON.parse(change?.data ?? '')).toEqual({ data: { queueStatusChanged: { queued: 0, maxConcurrency: 5 } } });

    abort.abort();
    await events.return(undefined).catch(() => undefined);
    await eventually(() => test.server.streams.size === 0, 'the stream closed');
    expect(listenerTotal(test.services)).toBe(baseline);
  });

  it('sends complete when a stream ends', async () => {
    const { runs } = test.services;
    const { run } = await runs.start({ group: { id: 'g', name: 'g' }, config: {} });
    runs.finish(run.id);
    const abort = new AbortController();
    const events = sseEvents(test.url, `subscription { agentRunUpdated(agentId: "${run.id}") { status } }`, undefined, abort.signal);
    expect(JSON.parse((await next(events))?.data ?? '')).toEqual({ data: { agentRunUpdated: { status: 'SUCCEEDED' } } });
    expect((await next(events))?.event).toBe('complete');
    abort.abort();
  });

  it('lets close() end an open SSE stream instead of waiting for the client', async () => {
    const abort = new AbortController();
    const events = sseEvents(test.url, 'subscription { healthAlerts { id } }', undefined, abort.signal);
    const first = events.next(); // starts the request
    await eventually(() => test.server.streams.size === 1, 'the stream is open');
    const started = Date.now();
    await within(test.close(), 'the server to close');
    expect(Date.now() - started).toBeLessThan(1_500);
    const end = await within(
      first.then(() => events.next()).catch(() => ({ done: true })),
      'the stream to end',
    );
    expect(end.done === true || (end as { value?: SseEvent }).value?.event === 'complete').toBe(true);
    expect(test.server.streams.size).toBe(0);
    abort.abort();
  });
});
