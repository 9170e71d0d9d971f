/**
 * End to end: a run that burns a CPU, seen live through `resourceSamples`, `healthAlerts` and
 * `healthReport`, and afterwards through the run's own `peak`, `samples` and `alerts`.
 */
import type { Client } from 'graphql-ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collect, gql, nextValue, pause, startRun, waitForFinal } from '../helpers/e2e.js';
import { createWsClient, eventually } from '../helpers/graphql-clients.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

let app: TestApp;
let client: Client;

beforeEach(async () => {
  app = await startTestApp({ RESOURCE_SAMPLE_INTERVAL_MS: '500', ALERT_CONSECUTIVE_SAMPLES: '2' });
  client = createWsClient(app.wsUrl);
});

afterEach(async () => {
  await client.dispose();
  expect(await app.close(), 'containers left behind by the app').toBe(0);
});

interface Sample {
  agentId: string | null;
  containerId: string;
  at: string;
  cpuPercent: number;
}

interface Alert {
  id: string;
  agentId: string | null;
  containerId: string;
  level: string;
  metric: string;
  value: number;
  threshold: number;
  resolvedAt: string | null;
}

const BURN_SECONDS = 8;

describe('monitoring a CPU-bound run', () => {
  it('streams its high CPU samples and its CPU alert, reports it unhealthy while it runs, and keeps the story afterwards', async () => {
    const alerts = collect(
      client.iterate<Record<string, any>>({
        query: 'subscription { healthAlerts { id agentId containerId level metric value threshold resolvedAt } }',
      }),
    );
    await eventually(() => app.app.server.streams.size === 1, 'the alert subscription is open', 5_000);

    // One full CPU busy for a while, and a run that succeeds.
    const { agentId } = await startRun(app.url, { cpus: 1, steps: [`timeout ${BURN_SECONDS} sh -c 'while :; do :; done' || true`] });
    const samples = client.iterate<Record<string, any>>({
      query: 'subscription ($id: ID) { resourceSamples(agentId: $id) { agentId containerId at cpuPercent } }',
      variables: { id: agentId },
    });

    // Samples of this run, until one shows the CPU busy.
    const streamed: Sample[] = [];
    while (!streamed.some((sample) => sample.cpuPercent > 70)) {
      const result = await nextValue(samples, `a sample above 70 % CPU (got ${streamed.map((s) => s.cpuPercent.toFixed(0)).join(', ')})`, 10_000);
      streamed.push(result.data?.['resourceSamples']);
    }
    expect(streamed.every((sample) => sample.agentId === agentId)).toBe(true);
    const containerId = streamed[0]!.containerId;

    // Its CPU alert, raised while it runs.
    await eventually(
      () => alerts.results.some((result) => result.data?.['healthAlerts'].agentId === agentId && result.data?.['healthAlerts'].resolvedAt === null),
      'a CPU alert for the run',
      10_000,
    );
    const raised = alerts.results.map((result) => result.data?.['healthAlerts'] as Alert).find((alert) => alert.agentId === agentId)!;
    expect(raised).toMatchObject({ containerId, metric: 'CPU', resolvedAt: null });
    expect(['WARNING', 'CRITICAL']).toContain(raised.level);
    expect(raised.value).toBeGreaterThan(raised.threshold);
    expect(raised.threshold).toBe(raised.level === 'CRITICAL' ? 90 : 70);

    // The health report lists the container as unhealthy while it runs.
    const REPORT =
      '{ healthReport { docker { reachable } overall { unhealthyContainers } containers { containerId agentId level latest { cpuPercent } alerts { id metric } } } }';
    let listed: Record<string, any> | undefined;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { healthReport } = await gql(app.url, REPORT);
      expect(healthReport.docker.reachable).toBe(true);
      listed = (healthReport.containers as Record<string, any>[]).find((container) => container.containerId === containerId);
      if (listed && ['WARNING', 'CRITICAL'].includes(listed['level'])) {
        expect(healthReport.overall.unhealthyContainers).toBeGreaterThanOrEqual(1);
        break;
      }
      if (Date.now() > deadline) throw new Error(`the report never listed the container as unhealthy: ${JSON.stringify(listed)}`);
      await pause(200);
    }
    expect(listed).toMatchObject({ agentId, latest: { cpuPercent: expect.any(Number) } });
    expect(listed['alerts']).toContainEqual({ id: raised.id, metric: 'CPU' });
    const { agentRun: running } = await gql(app.url, 'query ($id: ID!) { agentRun(id: $id) { status } }', { id: agentId });
    expect(running.status).toBe('RUNNING');

    // Follow the samples to the end of the run.
    const rest = collect(samples);
    const final = await waitForFinal(app.url, agentId, (BURN_SECONDS + 15) * 1000);
    expect(final['status']).toBe('SUCCEEDED');
    await rest.stop();
    streamed.push(...rest.results.map((result) => result.data?.['resourceSamples'] as Sample));

    // The alert is resolved once the container is gone.
    await eventually(
      () => alerts.results.some((result) => result.data?.['healthAlerts'].id === raised.id && result.data?.['healthAlerts'].resolvedAt !== null),
      'the alert resolved',
      5_000,
    );
    await alerts.stop();

    // Afterwards the run tells the same story.
    const { agentRun } = await gql(
      app.url,
      'query ($id: ID!) { agentRun(id: $id) { containerId peak { cpuPercent } samples { containerId at cpuPercent } alerts { id level metric resolvedAt } } }',
      { id: agentId },
    );
    expect(agentRun.containerId).toBe(containerId);
    const history = agentRun.samples as { containerId: string; at: string; cpuPercent: number }[];
    // Every sample streamed is in the run's history with the same reading.
    for (const sample of streamed) {
      expect(history).toContainEqual({ containerId, at: sample.at, cpuPercent: sample.cpuPercent });
    }
    const highest = Math.max(...history.map((sample) => sample.cpuPercent));
    expect(highest).toBeGreaterThan(70);
    expect(agentRun.peak.cpuPercent).toBeCloseTo(highest, 6);
    expect(agentRun.peak.cpuPercent).toBeGreaterThanOrEqual(Math.max(...streamed.map((sample) => sample.cpuPercent)));
    const cpuAlerts = (agentRun.alerts as { id: string; level: string; metric: string; resolvedAt: string | null }[]).filter(
      (alert) => alert.metric === 'CPU',
    );
    expect(cpuAlerts.map((alert) => alert.id)).toContain(raised.id);
    expect(cpuAlerts.every((alert) => ['WARNING', 'CRITICAL'].includes(alert.level) && alert.resolvedAt !== null)).toBe(true);

    // And the report no longer lists the container.
    const { healthReport } = await gql(app.url, '{ healthReport { containers { containerId } } }');
    expect(healthReport.containers).not.toContainEqual({ containerId });
  });
});
