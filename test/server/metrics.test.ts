/**
 * The metrics follow the services' events, live in their own registry, and let go on dispose.
 */
import { Registry, register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CACHE_COUNTER, inFreshProcess } from '../helpers/fresh-process.js';
import { createMetrics } from '../../src/server/metrics.js';
import { createFakeServices, listenerTotal } from '../helpers/fake-services.js';
import { makeAlert, makeReport, makeSample } from '../helpers/fixtures.js';

const INPUT = { group: { id: 'g', name: 'g' }, config: {} };

async function valueOf(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = await registry.getSingleMetric(name)?.get();
  const match = metric?.values.find((value) => Object.entries(labels).every(([key, label]) => value.labels[key] === label));
  return match?.value;
}

describe('metrics', () => {
  it('counts each run once when it reaches a final status, with its duration', async () => {
    const services = createFakeServices({ maxConcurrency: 2 });
    const metrics = createMetrics(services);
    const { run: ok } = await services.runs.start(INPUT);
    const { run: failed } = await services.runs.start(INPUT);
    const { run: cancelled } = await services.runs.start(INPUT);
    services.runs.finish(ok.id);
    services.runs.update(ok.id, { containerId: null }); // a later snapshot of a finished run
    services.runs.finish(failed.id, 'FAILED', 'OOM_KILLED');
    await services.runs.cancel(cancelled.id);

    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^bosun_runs_finished_total\{status="SUCCEEDED",reason="none"\} 1$/m);
    expect(text).toMatch(/^bosun_runs_finished_total\{status="FAILED",reason="OOM_KILLED"\} 1$/m);
    expect(text).toMatch(/^bosun_runs_finished_total\{status="CANCELLED",reason="none"\} 1$/m);
    expect(text).toMatch(/^bosun_run_duration_seconds_count\{status="SUCCEEDED"\} 1$/m);
    expect(text).not.toMatch(/^bosun_run_duration_seconds_count\{status="CANCELLED"\}/m); // never started
    expect(text).toMatch(/^bosun_queue_wait_seconds_count\{outcome="started"\} 2$/m);
    expect(text).toMatch(/^bosun_queue_wait_seconds_count\{outcome="cancelled"\} 1$/m);
    metrics.dispose();
  });

  it('keeps a CPU and memory gauge per running container until it goes', async () => {
    const services = createFakeServices();
    const metrics = createMetrics(services);
    const { run } = await services.runs.start(INPUT);
    const containerId = `container-${run.id}`;
    services.monitor.publishSample(makeSample({ containerId, runId: run.id, cpuPercent: 42, memoryUsageBytes: 1234 }));
    services.monitor.publishSample(makeSample({ containerId: 'foreign', runId: null, cpuPercent: 1 }));
    const labels = { container_id: containerId, agent_id: run.id };
    expect(await valueOf(metrics.registry, 'bosun_container_cpu_percent', labels)).toBe(42);
    expect(await valueOf(metrics.registry, 'bosun_container_memory_bytes', labels)).toBe(1234);
    expect(await valueOf(metrics.registry, 'bosun_container_cpu_percent', { container_id: 'foreign', agent_id: '' })).toBe(1);

    services.runs.finish(run.id); // emits container-removed
    expect(await valueOf(metrics.registry, 'bosun_container_cpu_percent', labels)).toBeUndefined();
    expect(await valueOf(metrics.registry, 'bosun_container_memory_bytes', labels)).toBeUndefined();
    services.monitor.publishHealthCheck(makeReport({ containers: [] })); // the foreign one is gone too
    expect(await valueOf(metrics.registry, 'bosun_container_cpu_percent', { container_id: 'foreign', agent_id: '' })).toBeUndefined();
    metrics.dispose();
  });

  it('counts raised alerts by level, not their resolutions', async () => {
    const services = createFakeServices();
    const metrics = createMetrics(services);
    services.monitor.publishAlert(makeAlert({ level: 'WARNING', metric: 'MEMORY' }));
    services.monitor.publishAlert(makeAlert({ level: 'WARNING', metric: 'MEMORY', resolvedAt: new Date() }));
    services.monitor.publishAlert(makeAlert({ level: 'CRITICAL', metric: 'CPU' }));
    expect(await valueOf(metrics.registry, 'bosun_alerts_total', { level: 'WARNING', metric: 'MEMORY' })).toBe(1);
    expect(await valueOf(metrics.registry, 'bosun_alerts_total', { level: 'CRITICAL', metric: 'CPU' })).toBe(1);
    metrics.dispose();
  });

  it('uses its own registry or the given one, never the global one, and cleans up on dispose', async () => {
    const services = createFakeServices();
    const registry = new Registry();
    const metrics = createMetrics(services, registry);
    expect(metrics.registry).toBe(registry);
    expect(await registry.metrics()).toContain('bosun_queue_running 0');
    expect(await globalRegistry.metrics()).not.toContain('bosun_');
    expect(listenerTotal(services)).toBeGreaterThan(0);

    metrics.dispose();
    expect(listenerTotal(services)).toBe(0);
    expect(await registry.metrics()).not.toContain('bosun_');
    // A fresh set can register on the same registry again (a restarted server).
    createMetrics(services, registry).dispose();
  });
});

describe('createMetrics, in a fresh process', () => {
  it('does not load @opentelemetry/api (prom-client requires it for what bosun does not collect)', async () => {
    const result = await inFreshProcess(`${CACHE_COUNTER}
      import { createMetrics } from './src/server/metrics.ts';
      import { createFakeServices } from './test/helpers/fake-services.ts';
      const metrics = createMetrics(createFakeServices());
      const text = await metrics.registry.metrics();
      metrics.dispose();
      console.log(JSON.stringify({ otel: cached('@opentelemetry/api'), queue: text.includes('bosun_queue_running') }));
    `);
    expect(result).toEqual({ otel: 1, queue: true });
  });
});
