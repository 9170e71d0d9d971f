import { describe, expect, it } from 'vitest';
import { EngineProbe } from '../../src/monitor/engine-probe.js';
import { FakeStatsSource } from './fake-stats-source.js';

describe('EngineProbe', () => {
  it('reports a reachable engine and remembers the host capacity', async () => {
    const source = new FakeStatsSource();
    const probe = new EngineProbe(source, 1_000);
    expect(probe.hostCapacity).toBeNull();
    expect(await probe.ping()).toEqual({ reachable: true, version: '27.1.1', error: null });
    expect(probe.hostCapacity).toEqual({ cpus: 8, memoryBytes: 16 * 1024 ** 3 });
  });

  it('reports an engine that fails, keeping the last known capacity', async () => {
    const source = new FakeStatsSource();
    const probe = new EngineProbe(source, 1_000);
    await probe.ping();
    source.engine = new Error('connect ENOENT /var/run/docker.sock');
    expect(await probe.ping()).toEqual({ reachable: false, version: null, error: 'connect ENOENT /var/run/docker.sock' });
    expect(probe.hostCapacity).toEqual({ cpus: 8, memoryBytes: 16 * 1024 ** 3 });
  });

  it('reports an engine that does not answer in time', async () => {
    const source = new FakeStatsSource();
    source.engineHangs = true;
    const probe = new EngineProbe(source, 30);
    expect(await probe.ping()).toEqual({ reachable: false, version: null, error: 'Docker engine ping: no answer within 30 ms' });
  });

  it('reports a ping cut short by its signal as unreachable', async () => {
    const source = new FakeStatsSource();
    source.engineHangs = true;
    const probe = new EngineProbe(source, 60_000);
    const stop = new AbortController();
    const pending = probe.ping(stop.signal);
    stop.abort(new Error('shutting down'));
    expect(await pending).toEqual({ reachable: false, version: null, error: 'shutting down' });
  });

  it('names a container without the leading slash, or null', async () => {
    const source = new FakeStatsSource();
    source.names.set('c1', '/bosun-run-1');
    const probe = new EngineProbe(source, 1_000);
    expect(await probe.containerName('c1')).toBe('bosun-run-1');
    expect(await probe.containerName('gone')).toBeNull();
  });

  it('validates its timeout', () => {
    expect(() => new EngineProbe(new FakeStatsSource(), 0)).toThrow('Expected engineTimeoutMs to be an integer of at least 1, got 0');
  });
});
