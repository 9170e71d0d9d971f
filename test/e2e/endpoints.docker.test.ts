/**
 * End to end: what the whole service serves next to the GraphQL API — GraphiQL, self-contained,
 * whose example works against the real engine; and /metrics following real runs.
 */
import type Docker from 'dockerode';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GRAPHIQL_DEFAULT_QUERY } from '../../src/server/graphiql.js';
import { createTestDocker } from '../helpers/docker.js';
import { gql, metricValue, pause, readMetrics, startRun, waitForContainer, waitForFinal, waitForRun } from '../helpers/e2e.js';
import { isLocal, loadedReferences } from '../helpers/html-references.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

let docker: Docker;
let app: TestApp;

beforeAll(() => {
  docker = createTestDocker();
});

beforeEach(async () => {
  app = await startTestApp({ MAX_CONCURRENT_AGENTS: '1', RESOURCE_SAMPLE_INTERVAL_MS: '500' });
});

afterEach(async () => {
  expect(await app.close(), 'containers left behind by the app').toBe(0);
});

describe('GraphiQL', () => {
  it('is served by the app, loads nothing from another host, and its example starts a run that succeeds', async () => {
    const response = await fetch(app.url, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    const html = await response.text();
    expect(html).toContain('"subscriptionsProtocol":"WS"');
    expect(html).toContain('queueStatusChanged');
    for (const reference of loadedReferences(html)) {
      expect(isLocal(reference, app.origin), `GraphiQL loads ${reference}`).toBe(true);
    }
    expect(html).not.toMatch(/unpkg\.com|jsdelivr\.net|cdnjs|esm\.sh|skypack|googleapis\.com|gstatic\.com/);

    // The operation the page opens with runs as it is.
    const started = await fetch(app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query: GRAPHIQL_DEFAULT_QUERY, operationName: 'StartAgent' }),
    });
    const body = (await started.json()) as { data?: { startAgent: { agentId: string; status: string } }; errors?: unknown };
    expect(body.errors).toBeUndefined();
    const final = await waitForFinal<{ status: string; logs: { stream: string; line: string }[] }>(
      app.url,
      body.data!.startAgent.agentId,
      20_000,
      'limits { cpus memoryBytes } logs { stream line }',
    );
    expect(final).toMatchObject({ status: 'SUCCEEDED', limits: { cpus: 0.5, memoryBytes: 512 * 1024 * 1024 } });
    expect(final.logs).toContainEqual({ stream: 'STDOUT', line: 'hello from the sandbox' });
  });
});

describe('/metrics', () => {
  it('moves the queue gauges with real runs and counts finished runs by status and reason', async () => {
    const before = await readMetrics(app);
    expect(metricValue(before, 'bosun_queue_running')).toBe(0);
    expect(metricValue(before, 'bosun_queue_queued')).toBe(0);
    expect(metricValue(before, 'bosun_queue_max_concurrency')).toBe(1);
    expect(before).not.toMatch(/^bosun_runs_finished_total\{/m);

    // One runs, two wait.
    const running = await startRun(app.url, { steps: ['sleep 3'] });
    const failing = await startRun(app.url, { steps: ['exit 3'] });
    const cancelled = await startRun(app.url, { steps: ['true'] });
    await waitForContainer(docker, app, running.agentId);
    await waitForRun(app.url, running.agentId, (run) => run['containerId'] !== null, 'the first run has its container');
    const during = await readMetrics(app);
    expect(metricValue(during, 'bosun_queue_running')).toBe(1);
    expect(metricValue(during, 'bosun_queue_queued')).toBe(2);

    // The running container has its CPU and memory gauges while it runs.
    const { agentRun } = await gql<{ agentRun: { containerId: string } }>(app.url, 'query ($id: ID!) { agentRun(id: $id) { containerId } }', {
      id: running.agentId,
    });
    const labels = `{container_id="${agentRun.containerId}",agent_id="${running.agentId}"}`;
    let gauges = during;
    const deadline = Date.now() + 10_000;
    while (metricValue(gauges, `bosun_container_memory_bytes${labels}`) === undefined) {
      if (Date.now() > deadline) throw new Error('no container gauges for the running run');
      await pause(200);
      gauges = await readMetrics(app);
    }
    expect(metricValue(gauges, `bosun_container_memory_bytes${labels}`)).toBeGreaterThan(0);
    expect(metricValue(gauges, `bosun_container_cpu_percent${labels}`)).toBeGreaterThanOrEqual(0);

    await gql(app.url, 'mutation ($id: ID!) { cancelAgent(id: $id) { status } }', { id: cancelled.agentId });
    expect(metricValue(await readMetrics(app), 'bosun_queue_queued')).toBe(1);
    expect((await waitForFinal(app.url, running.agentId))['status']).toBe('SUCCEEDED');
    expect(await waitForFinal(app.url, failing.agentId)).toMatchObject({ status: 'FAILED', failureReason: 'NON_ZERO_EXIT' });
    await gql(app.url, 'mutation { setMaxConcurrency(value: 4) { maxConcurrency } }');

    const after = await readMetrics(app);
    expect(metricValue(after, 'bosun_queue_running')).toBe(0);
    expect(metricValue(after, 'bosun_queue_queued')).toBe(0);
    expect(metricValue(after, 'bosun_queue_max_concurrency')).toBe(4);
    expect(metricValue(after, 'bosun_runs_finished_total{status="SUCCEEDED",reason="none"}')).toBe(1);
    expect(metricValue(after, 'bosun_runs_finished_total{status="FAILED",reason="NON_ZERO_EXIT"}')).toBe(1);
    expect(metricValue(after, 'bosun_runs_finished_total{status="CANCELLED",reason="none"}')).toBe(1);
    expect(metricValue(after, 'bosun_run_duration_seconds_count{status="SUCCEEDED"}')).toBe(1);
    expect(metricValue(after, 'bosun_queue_wait_seconds_count{outcome="started"}')).toBe(2);
    expect(metricValue(after, 'bosun_queue_wait_seconds_count{outcome="cancelled"}')).toBe(1);
    // The finished container's gauges are gone.
    expect(after).not.toContain(`container_id="${agentRun.containerId}"`);
  });
});
