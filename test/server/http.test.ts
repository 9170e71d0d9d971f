/**
 * The server over plain HTTP: queries and mutations (POST, and GET as clients and curl send it),
 * error codes and masking, argument checks, /health, /metrics and the GraphiQL page.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BOSUN_ERROR_CODES, BosunError } from '../../src/errors.js';
import { postGraphQL } from '../helpers/graphql-clients.js';
import type { FakeServices } from '../helpers/fake-services.js';
import { makeAlert, makeLogLine, makeRun, makeSample } from '../helpers/fixtures.js';
import { startTestServer, type TestServer } from '../helpers/start-test-server.js';
import { isLocal, loadedReferences } from '../helpers/html-references.js';

let test: TestServer<FakeServices>;
const run = promisify(execFile);

beforeEach(async () => {
  test = await startTestServer();
});

afterEach(async () => {
  await test.close();
});

const START_AGENT = /* GraphQL */ `
  mutation Start($input: StartAgentInput!) {
    startAgent(input: $input) {
      agentId
      status
      queue {
        position
        running
        queued
        maxConcurrency
      }
      run {
        id
        status
        agent
        image
        limits {
          cpus
          memoryBytes
          pidsLimit
        }
        position
        queuedAt
        group {
          id
          name
          runIds
        }
      }
    }
  }
`;

const START_INPUT = { group: { id: 'g-1', name: 'flaky', runIds: ['ci-9'] }, config: { steps: ['echo hi'] } };

describe('queries and mutations over HTTP POST', () => {
  it('answers queueStatus from the queue', async () => {
    await test.services.queue.setMaxConcurrency(3);
    const { status, body } = await postGraphQL(test.url, '{ queueStatus { running queued maxConcurrency utilizationPercent paused } }');
    expect(status).toBe(200);
    expect(body).toEqual({
      data: { queueStatus: { running: 0, queued: 0, maxConcurrency: 3, utilizationPercent: 0, paused: false } },
    });
  });

  it('starts an agent and reports its ticket, run and place in line', async () => {
    await postGraphQL(test.url, START_AGENT, { input: START_INPUT });
    const { body } = await postGraphQL<{ startAgent: { run: { queuedAt: string } } }>(test.url, START_AGENT, { input: START_INPUT });
    expect(body.errors).toBeUndefined();
    expect(body.data?.['startAgent']).toMatchObject({
      agentId: 'run-2',
      status: 'QUEUED',
      queue: { position: 1, running: 1, queued: 1, maxConcurrency: 1 },
      run: {
        id: 'run-2',
        status: 'QUEUED',
        agent: 'shell',
        image: 'bosun-sandbox:latest',
        limits: { cpus: 1, memoryBytes: 2 * 1024 ** 3, pidsLimit: 1000 },
        position: 1,
        group: { id: 'g-1', name: 'flaky', runIds: ['ci-9'] },
      },
    });
    expect(body.data?.['startAgent'].run.queuedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('reads a run with its logs, samples, alerts and peak from the services', async () => {
    const { runs, monitor } = test.services;
    runs.seed(
      makeRun({ id: 'r1', status: 'RUNNING', containerId: 'c1', startedAt: new Date('2025-01-01T00:00:05Z') }),
      [1, 2, 3, 4].map((seq) => makeLogLine({ runId: 'r1', seq })),
    );
    monitor.publishSample(makeSample({ runId: 'r1', containerId: 'c1', cpuPercent: 40, pids: 7 }));
    monitor.publishSample(makeSample({ runId: 'r1', containerId: 'c1', cpuPercent: 90, pids: 5 }));
    monitor.publishAlert(makeAlert({ runId: 'r1', containerId: 'c1' }));
    const { body } = await postGraphQL(
      test.url,
      `{ agentRun(id: "r1") {
          status containerId startedAt position
          logs(afterSeq: 1, last: 2) { seq line stream }
          samples(last: 1) { cpuPercent containerId agentId }
          alerts { id level metric resolvedAt }
          peak { cpuPercent pids }
        }
        missing: agentRun(id: "nope") { id } }`,
    );
    expect(body.errors).toBeUndefined();
    expect(body.data).toEqual({
      agentRun: {
        status: 'RUNNING',
        containerId: 'c1',
        startedAt: '2025-01-01T00:00:05.000Z',
        position: 0,
        logs: [
          { seq: 3, line: 'line 3', stream: 'STDOUT' },
          { seq: 4, line: 'line 4', stream: 'STDOUT' },
        ],
        samples: [{ cpuPercent: 90, containerId: 'c1', agentId: 'r1' }],
        alerts: [{ id: 'alert-1', level: 'WARNING', metric: 'CPU', resolvedAt: null }],
        peak: { cpuPercent: 90, pids: 7 },
      },
      missing: null,
    });
  });

  it('lists runs newest first, filtered by status', async () => {
    const { runs } = test.services;
    runs.seed(makeRun({ id: 'a', status: 'SUCCEEDED' }));
    runs.seed(makeRun({ id: 'b', status: 'FAILED', failureReason: 'NON_ZERO_EXIT' }));
    runs.seed(makeRun({ id: 'c', status: 'SUCCEEDED' }));
    const { body } = await postGraphQL(test.url, '{ agentRuns(status: [SUCCEEDED], limit: 10) { id } all: agentRuns { id failureReason } }');
    expect(body.data).toEqual({
      agentRuns: [{ id: 'c' }, { id: 'a' }],
      all: [
        { id: 'c', failureReason: null },
        { id: 'b', failureReason: 'NON_ZERO_EXIT' },
        { id: 'a', failureReason: null },
      ],
    });
  });

  it('answers queries sent with GET without any extra header, and refuses mutations over GET', async () => {
    const get = await fetch(`${test.url}?query=${encodeURIComponent('{ queueStatus { queued } }')}`, { headers: { accept: 'application/json' } });
    expect(await get.json()).toEqual({ data: { queueStatus: { queued: 0 } } });
    const mutation = await fetch(`${test.url}?query=${encodeURIComponent('mutation { setMaxConcurrency(value: 2) { queued } }')}`, {
      headers: { accept: 'application/json' },
    });
    expect(mutation.status).toBe(405);
    await mutation.text();
    expect(test.services.queue.stats().maxConcurrency).toBe(1);
  });

  it('answers `curl -G` with the query and variables as URL parameters', async () => {
    const { stdout } = await run('curl', [
      '--silent',
      '--show-error',
      '--fail-with-body',
      '-G',
      test.url,
      '--data-urlencode',
      'query=query Q($status: [AgentStatus!]) { agentRuns(status: $status) { id } queueStatus { maxConcurrency } }',
      '--data-urlencode',
      'variables={"status":["RUNNING"]}',
    ]);
    expect(JSON.parse(stdout)).toEqual({ data: { agentRuns: [], queueStatus: { maxConcurrency: 1 } } });
  });

  it('sets the queue limit and returns the status after it', async () => {
    const { body } = await postGraphQL(test.url, 'mutation { setMaxConcurrency(value: 0) { maxConcurrency } }');
    expect(body).toEqual({ data: { setMaxConcurrency: { maxConcurrency: 0 } } });
    expect(test.services.queue.stats().maxConcurrency).toBe(0);
  });

  it('answers healthReport and concurrencyAdvice from the monitor', async () => {
    const { body } = await postGraphQL(
      test.url,
      '{ healthReport { generatedAt docker { reachable version error } overall { totalContainers } thresholds { cpuPercentWarning pidsCritical } } concurrencyAdvice { current recommended canIncrease reason } }',
    );
    expect(body.errors).toBeUndefined();
    expect(body.data).toEqual({
      healthReport: {
        generatedAt: '2025-01-01T00:00:03.000Z',
        docker: { reachable: true, version: '27.0.0', error: null },
        overall: { totalContainers: 0 },
        thresholds: { cpuPercentWarning: 70, pidsCritical: 950 },
      },
      concurrencyAdvice: { current: 1, recommended: 2, canIncrease: true, reason: 'The host has room for one more run.' },
    });
  });
});

describe('errors', () => {
  it.each(BOSUN_ERROR_CODES)('maps a BosunError %s to extensions.code', async (code) => {
    test.services.runs.seed(makeRun({ id: 'r1' }));
    test.services.runs.failNext('cancel', new BosunError(code, `it went ${code}`));
    const { status, body } = await postGraphQL(test.url, 'mutation { cancelAgent(id: "r1") { id } }');
    expect(status).toBe(200);
    expect(body.data).toBeNull();
    expect(body.errors).toEqual([expect.objectContaining({ message: `it went ${code}`, path: ['cancelAgent'], extensions: { code } })]);
  });

  it('passes the run service input errors through, with the field', async () => {
    const { body } = await postGraphQL(test.url, START_AGENT, { input: { ...START_INPUT, group: { id: ' ', name: 'x' } } });
    expect(body.errors).toEqual([
      expect.objectContaining({
        message: 'group.id: expected a non-empty string, got ""',
        extensions: { code: 'BAD_USER_INPUT', field: 'group.id' },
      }),
    ]);
  });

  it('maps errors of async resolvers and of nested fields too', async () => {
    test.services.monitor.failNext('generateReport', new BosunError('DOCKER_UNAVAILABLE', 'Docker is not reachable'));
    test.services.runs.seed(makeRun({ id: 'r1' }));
    test.services.runs.failNext('position', new BosunError('SHUTTING_DOWN', 'bye'));
    const { body } = await postGraphQL(test.url, '{ healthReport { generatedAt } agentRun(id: "r1") { id position } }');
    const errors = body.errors?.map((error) => [error.path?.join('.'), error.extensions?.['code']]);
    expect(errors?.sort()).toEqual([
      ['agentRun.position', 'SHUTTING_DOWN'],
      ['healthReport', 'DOCKER_UNAVAILABLE'],
    ]);
  });

  it('masks any other error as "Unexpected error."', async () => {
    test.services.runs.seed(makeRun({ id: 'r1' }));
    test.services.runs.failNext('cancel', new Error('connect ECONNREFUSED /var/run/docker.sock (secret detail)'));
    const { body } = await postGraphQL(test.url, 'mutation { cancelAgent(id: "r1") { id } }');
    expect(body.errors).toHaveLength(1);
    expect(body.errors?.[0]?.message).toBe('Unexpected error.');
    expect(JSON.stringify(body)).not.toContain('secret detail');
    expect(body.errors?.[0]?.extensions?.['code']).toBe('INTERNAL_SERVER_ERROR');
  });

  it.each([
    ['agentRuns(limit: 0)', 'limit: expected an integer from 1 to 500, got 0'],
    ['agentRuns(limit: 501)', 'limit: expected an integer from 1 to 500, got 501'],
  ])('refuses %s with BAD_USER_INPUT naming the argument', async (field, message) => {
    const { body } = await postGraphQL(test.url, `{ ${field} { id } }`);
    expect(body.errors).toEqual([expect.objectContaining({ message, extensions: { code: 'BAD_USER_INPUT', field: 'limit' } })]);
  });

  it('refuses negative afterSeq and last, and an out-of-range concurrency', async () => {
    test.services.runs.seed(makeRun({ id: 'r1' }));
    const logs = await postGraphQL(test.url, '{ agentRun(id: "r1") { logs(afterSeq: -1) { seq } } }');
    expect(logs.body.errors?.[0]).toMatchObject({
      message: 'afterSeq: expected an integer of at least 0, got -1',
      path: ['agentRun', 'logs'],
      extensions: { code: 'BAD_USER_INPUT', field: 'afterSeq' },
    });
    const samples = await postGraphQL(test.url, '{ agentRun(id: "r1") { samples(last: -2) { at } } }');
    expect(samples.body.errors?.[0]).toMatchObject({
      message: 'last: expected an integer of at least 0, got -2',
      extensions: { code: 'BAD_USER_INPUT', field: 'last' },
    });
    const mutation = await postGraphQL(test.url, 'mutation { setMaxConcurrency(value: 10001) { maxConcurrency } }');
    expect(mutation.body.errors?.[0]).toMatchObject({
      message: 'value: expected an integer from 0 to 10000 (0 = unlimited), got 10001',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(test.services.queue.stats().maxConcurrency).toBe(1);
  });
});

describe('endpoints next to GraphQL', () => {
  it('answers /health', async () => {
    const response = await fetch(`${test.origin}/health`);
    expect(response.status).toBe(200);
  });

  it('exposes the queue gauges on /metrics, and they follow the queue', async () => {
    const read = async (): Promise<string> => {
      const response = await fetch(`${test.origin}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain');
      return response.text();
    };
    const before = await read();
    expect(before).toMatch(/^bosun_queue_running 0$/m);
    expect(before).toMatch(/^bosun_queue_queued 0$/m);
    expect(before).toMatch(/^bosun_queue_max_concurrency 1$/m);

    await test.services.runs.start(START_INPUT);
    await test.services.runs.start(START_INPUT);
    await test.services.runs.start(START_INPUT);
    await test.services.queue.setMaxConcurrency(4);
    const after = await read();
    expect(after).toMatch(/^bosun_queue_running 1$/m);
    expect(after).toMatch(/^bosun_queue_queued 2$/m);
    expect(after).toMatch(/^bosun_queue_max_concurrency 4$/m);
  });

  it('serves GraphiQL that loads nothing from another host and speaks graphql-ws', async () => {
    const response = await fetch(test.url, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    const html = await response.text();
    expect(html).toContain('"subscriptionsProtocol":"WS"');
    expect(html).toContain('queueStatusChanged');
    expect(html).toContain('startAgent(');
    for (const reference of loadedReferences(html)) {
      expect(isLocal(reference, test.origin), `GraphiQL loads ${reference}`).toBe(true);
    }
    // The page's own markup (outside the inlined bundle) names no host at all.
    const markup = html.replace(/<script>[\s\S]*<\/script>/, '').replace(/<style>[\s\S]*<\/style>/, '');
    expect(markup).not.toMatch(/https?:\/\//);
    // No well-known CDN appears anywhere in the page or its inlined assets.
    expect(html).not.toMatch(/unpkg\.com|jsdelivr\.net|cdnjs|esm\.sh|skypack|googleapis\.com|gstatic\.com/);
  });
});
