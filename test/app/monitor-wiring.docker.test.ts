/**
 * What the composition root builds around the monitor: the alert webhook fed by its alerts and
 * closed after it, and autoscaling on its health checks, each only when configured. (The parts themselves have unit tests in test/monitor and test/coordination.)
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import type { HealthAlert } from '../../src/monitor/monitor-types.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function app(env: Record<string, string>): Promise<TestApp> {
  const started = await startTestApp({ HEALTH_CHECK_INTERVAL_MS: '3600000', ...env });
  cleanups.push(async () => expect(await started.close()).toBe(0));
  return started;
}

/** An HTTP receiver that records the JSON bodies POSTed to it. */
async function receiver(): Promise<{ url: string; bodies: unknown[] }> {
  const bodies: unknown[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies };
}

function criticalAlert(agentId: string): HealthAlert {
  return {
    id: `alert-${agentId}`,
    level: 'CRITICAL',
    metric: 'CPU',
    value: 97,
    threshold: 90,
    containerId: 'c1',
    runId: agentId,
    at: new Date(),
    message: 'CPU at 97% of its 1-CPU limit ≥ critical 90% for 2 samples',
    resolvedAt: null,
  };
}

it('sends the monitor’s CRITICAL alerts to ALERT_WEBHOOK_URL, delivering what is pending before shutdown ends', async () => {
  const hook = await receiver();
  const test = await startTestApp({ HEALTH_CHECK_INTERVAL_MS: '3600000', ALERT_WEBHOOK_URL: hook.url });
  test.app.monitor.events.emit('alert', criticalAlert('run-1'));
  test.app.monitor.events.emit('alert', { ...criticalAlert('run-2'), level: 'WARNING' });
  expect(await test.close()).toBe(0);
  expect(hook.bodies).toEqual([expect.objectContaining({ event: 'alert.raised', alert: expect.objectContaining({ agentId: 'run-1' }) as object })]);
});

it('with CONCURRENCY_AUTOSCALE, each health check moves the queue’s limit one step toward the advice', async () => {
  // Light runs on any host: the advice is at least 2.
  const test = await app({
    CONCURRENCY_AUTOSCALE: 'true',
    CONCURRENCY_AUTOSCALE_MAX: '3',
    MAX_CONCURRENT_AGENTS: '1',
    DOCKER_CPU_LIMIT: '0.1',
    DOCKER_MEMORY_LIMIT: '16m',
  });
  const adjusted: { from: number; to: number }[] = [];
  test.app.monitor.events.on('concurrency-adjusted', (event) => adjusted.push(event));
  // The check that start() ran may already have taken the first step.
  for (let check = 0; check < 3; check += 1) await test.app.monitor.runHealthCheck();
  expect(test.app.queue.stats().maxConcurrency).toBe(3);
  expect(adjusted.length).toBeGreaterThanOrEqual(1);
  for (const event of adjusted) expect(event.to).toBe(event.from + 1);
});

it('without it, health checks leave the queue’s limit alone', async () => {
  const test = await app({ MAX_CONCURRENT_AGENTS: '1', DOCKER_CPU_LIMIT: '0.1', DOCKER_MEMORY_LIMIT: '16m' });
  await test.app.monitor.runHealthCheck();
  await test.app.monitor.runHealthCheck();
  expect(test.app.queue.stats().maxConcurrency).toBe(1);
});
