/**
 * How the running service reads its containers' figures, as `healthReport` tells it: their cgroup
 * files when the engine is reached through the local socket, the engine's stats streams when it is
 * reached over TCP (here a TCP port forwarded to the same local engine, which bosun cannot tell
 * from a remote one). Either way the run's samples flow.
 */
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { gql, startRun, until } from '../helpers/e2e.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function app(env: Record<string, string> = {}): Promise<TestApp> {
  const started = await startTestApp({ RESOURCE_SAMPLE_INTERVAL_MS: '500', ...env });
  cleanups.push(async () => expect(await started.close()).toBe(0));
  return started;
}

/** A TCP port that forwards to the local engine's socket. */
async function tcpEngine(): Promise<string> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const engine = createConnection('/var/run/docker.sock');
    sockets.add(client).add(engine);
    client.pipe(engine).pipe(client);
    for (const socket of [client, engine]) {
      socket.on('error', () => {
        client.destroy();
        engine.destroy();
      });
      socket.on('close', () => sockets.delete(socket));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Report {
  healthReport: { monitorSource: string; containers: { agentId: string | null; monitorSource: string; latest: { cpuPercent: number } | null }[] };
}

const REPORT = '{ healthReport { monitorSource containers { agentId monitorSource latest { cpuPercent } } } }';

async function sourcesWhileRunning(test: TestApp): Promise<Report['healthReport']> {
  const { agentId } = await startRun(test.url, { steps: ['sleep 60'] });
  const report = await until('the run’s container to be sampled', 20_000, async () => {
    const { healthReport } = await gql<Report>(test.url, REPORT);
    return healthReport.containers.some((c) => c.agentId === agentId && c.latest !== null) ? healthReport : undefined;
  });
  const { agentRun } = await gql<{ agentRun: { samples: unknown[] } }>(test.url, `{ agentRun(id: "${agentId}") { samples { at } } }`);
  expect(agentRun.samples.length).toBeGreaterThan(0);
  await gql(test.url, `mutation { cancelAgent(id: "${agentId}") { id } }`);
  return report;
}

it('reads the cgroup files through the local socket', async () => {
  const test = await app();
  const report = await sourcesWhileRunning(test);
  expect(report.monitorSource).toBe('CGROUP_FILES');
  expect(report.containers.map((c) => c.monitorSource)).toEqual(['CGROUP_FILES']);
}, 60_000);

it('keeps the engine’s stats streams for an engine over TCP', async () => {
  const test = await app({ DOCKER_HOST: await tcpEngine() });
  const report = await sourcesWhileRunning(test);
  expect(report.monitorSource).toBe('ENGINE_STATS');
  expect(report.containers.map((c) => c.monitorSource)).toEqual(['ENGINE_STATS']);
}, 60_000);
