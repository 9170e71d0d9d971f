/**
 * End to end: a run that burns a CPU, seen live through `resourceSamples`, `healthAlerts` and
 * `healthReport`, and afterwards through the run's own `peak`, `samples` and `alerts`.
 *
 * It must hold on a busy machine, so nothing depends on how much CPU the burner gets: the app
 * alerts at thresholds far below a CPU-bound process's share of a loaded 2-core machine, and the
 * burner keeps burning until the test has seen all it looks for while the run runs.
 */
import type Docker from 'dockerode';
import type { Client } from 'graphql-ws';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDocker, readInside } from '../helpers/docker.js';
import { collect, gql, nextValue, pause, startRun, waitForFinal } from '../helpers/e2e.js';
import { createWsClient, eventually } from '../helpers/graphql-clients.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

/**
 * This app's CPU alert thresholds, in percent of the run's CPU limit (1 CPU here). The defaults
 * (70/90 %) are crossed only while a core is nearly free for the burner; 10 % is crossed unless
 * some 20 other CPU-bound processes compete for the machine's 2 cores.
 */
const CPU_PERCENT_WARNING = 10;
const CPU_PERCENT_CRITICAL = 20;

let docker: Docker;
let app: TestApp;
let client: Client;

beforeAll(() => {
  docker = createTestDocker();
});

beforeEach(async () => {
  app = await startTestApp({
    RESOURCE_SAMPLE_INTERVAL_MS: '500',
    ALERT_CONSECUTIVE_SAMPLES: '2',
    CPU_PERCENT_WARNING: String(CPU_PERCENT_WARNING),
    CPU_PERCENT_CRITICAL: String(CPU_PERCENT_CRITICAL),
  });
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

interface HealthReport {
  readonly docker: { readonly reachable: boolean };
  readonly overall: { readonly unhealthyContainers: number };
  readonly containers: readonly {
    readonly containerId: string;
    readonly agentId: string | null;
    readonly level: string;
    readonly latest: { readonly cpuPercent: number } | null;
    readonly alerts: readonly { readonly id: string; readonly metric: string }[];
  }[];
}

/** Where the test tells the burner to stop (the sandbox's /tmp is writable). */
const STOP_FILE = '/tmp/stop-burning';
/** One CPU busy until the test creates STOP_FILE (at most a minute, should the test fail first). */
const BURN_STEP = `timeout 60 sh -c 'until [ -e ${STOP_FILE} ]; do :; done' || true`;

describe('monitoring a CPU-bound run', () => {
  it('streams its high CPU samples and its CPU alert, reports it unhealthy while it runs, and keeps the story afterwards', async () => {
    const alerts = collect(
      client.iterate<{ healthAlerts: Alert }>({
        query: 'subscription { healthAlerts { id agentId containerId level metric value threshold resolvedAt } }',
      }),
    );
    await eventually(() => app.app.server.streams.size === 1, 'the alert subscription is open', 5_000);

    // One full CPU busy until told to stop, and a run that succeeds.
    const { agentId } = await startRun(app.url, { cpus: 1, steps: [BURN_STEP] });
    const samples = client.iterate<{ resourceSamples: Sample }>({
      query: 'subscription ($id: ID) { resourceSamples(agentId: $id) { agentId containerId at cpuPercent } }',
      variables: { id: agentId },
    });

    // Samples of this run, until one shows the CPU busy past the warning threshold.
    const streamed: Sample[] = [];
    while (!streamed.some((sample) => sample.cpuPercent > CPU_PERCENT_WARNING)) {
      const result = await nextValue(
        samples,
        `a sample above ${CPU_PERCENT_WARNING} % CPU (got ${streamed.map((s) => s.cpuPercent.toFixed(0)).join(', ')})`,
        10_000,
      );
      streamed.push(result.data!.resourceSamples);
    }
    expect(streamed.every((sample) => sample.agentId === agentId)).toBe(true);
    const containerId = streamed[0]!.containerId;

    // Its CPU alert, raised while it runs.
    await eventually(
      () => alerts.results.some((result) => result.data?.healthAlerts.agentId === agentId && result.data.healthAlerts.resolvedAt === null),
      'a CPU alert for the run',
      10_000,
    );
    const raised = alerts.results.map((result) => result.data!.healthAlerts).find((alert) => alert.agentId === agentId)!;
    expect(raised).toMatchObject({ containerId, metric: 'CPU', resolvedAt: null });
    expect(['WARNING', 'CRITICAL']).toContain(raised.level);
    expect(raised.value).toBeGreaterThan(raised.threshold);
    // Graded against the app's configured thresholds.
    expect(raised.threshold).toBe(raised.level === 'CRITICAL' ? CPU_PERCENT_CRITICAL : CPU_PERCENT_WARNING);

    // The health report lists the container as unhealthy while it runs.
    const REPORT =
      '{ healthReport { docker { reachable } overall { unhealthyContainers } containers { containerId agentId level latest { cpuPercent } alerts { id metric } } } }';
    let listed: HealthReport['containers'][number] | undefined;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { healthReport } = await gql<{ healthReport: HealthReport }>(app.url, REPORT);
      expect(healthReport.docker.reachable).toBe(true);
      listed = healthReport.containers.find((container) => container.containerId === containerId);
      if (listed && ['WARNING', 'CRITICAL'].includes(listed.level)) {
        expect(healthReport.overall.unhealthyContainers).toBeGreaterThanOrEqual(1);
        break;
      }
      if (Date.now() > deadline) throw new Error(`the report never listed the container as unhealthy: ${JSON.stringify(listed)}`);
      await pause(200);
    }
    expect(listed).toMatchObject({ agentId, latest: { cpuPercent: expect.any(Number) as number } });
    expect(listed.alerts).toContainEqual({ id: raised.id, metric: 'CPU' });
    const { agentRun: running } = await gql<{ agentRun: { status: string } }>(app.url, 'query ($id: ID!) { agentRun(id: $id) { status } }', {
      id: agentId,
    });
    expect(running.status).toBe('RUNNING');

    // Follow the samples to the end of the run, which ends once the burner is told to stop.
    const rest = collect(samples);
    await readInside(docker, containerId, `touch ${STOP_FILE}`);
    const final = await waitForFinal(app.url, agentId);
    expect(final.status).toBe('SUCCEEDED');
    await rest.stop();
    streamed.push(...rest.results.map((result) => result.data!.resourceSamples));

    // The alert is resolved once the container is gone.
    await eventually(
      () => alerts.results.some((result) => result.data?.healthAlerts.id === raised.id && result.data.healthAlerts.resolvedAt !== null),
      'the alert resolved',
      5_000,
    );
    await alerts.stop();

    // Afterwards the run tells the same story.
    const { agentRun } = await gql<{
      agentRun: {
        containerId: string;
        peak: { cpuPercent: number };
        samples: { containerId: string; at: string; cpuPercent: number }[];
        alerts: { id: string; level: string; metric: string; resolvedAt: string | null }[];
      };
    }>(
      app.url,
      'query ($id: ID!) { agentRun(id: $id) { containerId peak { cpuPercent } samples { containerId at cpuPercent } alerts { id level metric resolvedAt } } }',
      { id: agentId },
    );
    expect(agentRun.containerId).toBe(containerId);
    const history = agentRun.samples;
    // Every sample streamed is in the run's history with the same reading.
    for (const sample of streamed) {
      expect(history).toContainEqual({ containerId, at: sample.at, cpuPercent: sample.cpuPercent });
    }
    const highest = Math.max(...history.map((sample) => sample.cpuPercent));
    expect(highest).toBeGreaterThan(CPU_PERCENT_WARNING);
    expect(agentRun.peak.cpuPercent).toBeCloseTo(highest, 6);
    expect(agentRun.peak.cpuPercent).toBeGreaterThanOrEqual(Math.max(...streamed.map((sample) => sample.cpuPercent)));
    const cpuAlerts = agentRun.alerts.filter((alert) => alert.metric === 'CPU');
    expect(cpuAlerts.map((alert) => alert.id)).toContain(raised.id);
    expect(cpuAlerts.every((alert) => ['WARNING', 'CRITICAL'].includes(alert.level) && alert.resolvedAt !== null)).toBe(true);

    // And the report no longer lists the container.
    const { healthReport } = await gql<{ healthReport: { containers: { containerId: string }[] } }>(
      app.url,
      '{ healthReport { containers { containerId } } }',
    );
    expect(healthReport.containers).not.toContainEqual({ containerId });
  });
});
