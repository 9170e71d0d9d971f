/**
 * The monitor streams over the fakes, without GraphQL: what each sends, and that it lets go of
 * the services.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { healthAlerts, meetsLevel, resourceSamples } from '../../src/api/monitor-streams.js';
import { StreamRegistry } from '../../src/api/streams/stream-registry.js';
import { createFakeServices, listenerTotal, type FakeServices } from '../helpers/fake-services.js';
import { makeAlert, makeRun, makeSample } from '../helpers/fixtures.js';
import { buffered } from './stream-helpers.js';

let services: FakeServices;
let streams: StreamRegistry;

beforeEach(() => {
  services = createFakeServices();
  streams = new StreamRegistry();
});

describe('monitor streams', () => {
  it('resourceSamples sends all samples, or those of a run and/or container', async () => {
    services.runs.seed(makeRun({ id: 'a', status: 'RUNNING' }));
    const all = await resourceSamples(services, streams, {});
    const byAgent = await resourceSamples(services, streams, { agentId: 'a' });
    const byBoth = await resourceSamples(services, streams, { agentId: 'a', containerId: 'c2' });
    services.monitor.publishSample(makeSample({ runId: 'a', containerId: 'c1' }));
    services.monitor.publishSample(makeSample({ runId: 'b', containerId: 'c2' }));
    services.monitor.publishSample(makeSample({ runId: 'a', containerId: 'c2' }));
    const ids = async (stream: typeof all): Promise<string[]> =>
      (await buffered(stream)).items.map((item) => `${(item as { runId: string }).runId}/${(item as { containerId: string }).containerId}`);
    expect(await ids(all)).toEqual(['a/c1', 'b/c2', 'a/c2']);
    expect(await ids(byAgent)).toEqual(['a/c1', 'a/c2']);
    expect(await ids(byBoth)).toEqual(['a/c2']);
    streams.closeAll();
    expect(listenerTotal(services)).toBe(0);
  });

  it('resourceSamples answers NOT_FOUND for an unknown run, and opens nothing', async () => {
    await expect(resourceSamples(services, streams, { agentId: 'nope' })).rejects.toThrow(
      expect.objectContaining({ code: 'NOT_FOUND', field: 'agentId' }),
    );
    expect(streams.size).toBe(0);
    expect(listenerTotal(services)).toBe(0);
  });

  it('resourceSamples of a run ends once the run is final, after the samples it holds, and lets go of the services', async () => {
    const { run } = await services.runs.start({ group: { id: 'g', name: 'g' }, config: {} });
    const stream = await resourceSamples(services, streams, { agentId: run.id });
    const other = await resourceSamples(services, streams, {});
    services.monitor.publishSample(makeSample({ runId: run.id, containerId: 'c1', cpuPercent: 1 }));
    services.runs.finish(run.id);
    services.monitor.publishSample(makeSample({ runId: run.id, containerId: 'c1', cpuPercent: 2 }));
    const { items, done } = await buffered(stream);
    expect(items.map((item) => (item as { cpuPercent: number }).cpuPercent)).toEqual([1]);
    expect(done).toBe(true);
    // A stream without a run goes on.
    expect((await buffered(other)).done).toBe(false);
    other.close();
    expect(listenerTotal(services)).toBe(0);
  });

  it('resourceSamples of a run that is final already ends at once', async () => {
    services.runs.seed(makeRun({ id: 'done', status: 'SUCCEEDED', finishedAt: new Date() }));
    const { items, done } = await buffered(await resourceSamples(services, streams, { agentId: 'done' }));
    expect(items).toEqual([]);
    expect(done).toBe(true);
    expect(listenerTotal(services)).toBe(0);
  });

  it('healthAlerts sends alerts at or above minLevel, WARNING by default, resolutions included', async () => {
    const byDefault = healthAlerts(services, streams, null);
    const critical = healthAlerts(services, streams, 'CRITICAL');
    services.monitor.publishAlert(makeAlert({ id: 'w', level: 'WARNING' }));
    services.monitor.publishAlert(makeAlert({ id: 'c', level: 'CRITICAL' }));
    services.monitor.publishAlert(makeAlert({ id: 'c', level: 'CRITICAL', resolvedAt: new Date() }));
    const ids = async (stream: typeof byDefault): Promise<string[]> =>
      (await buffered(stream)).items.map((item) => `${(item as { id: string }).id}${(item as { resolvedAt: Date | null }).resolvedAt ? '✓' : ''}`);
    expect(await ids(byDefault)).toEqual(['w', 'c', 'c✓']);
    expect(await ids(critical)).toEqual(['c', 'c✓']);
  });

  it('orders levels CRITICAL > WARNING > HEALTHY = UNKNOWN', () => {
    expect(meetsLevel('CRITICAL', 'WARNING')).toBe(true);
    expect(meetsLevel('WARNING', 'CRITICAL')).toBe(false);
    expect(meetsLevel('WARNING', 'HEALTHY')).toBe(true);
    expect(meetsLevel('WARNING', 'UNKNOWN')).toBe(true);
  });
});
