/**
 * The run resolvers over the fakes: those with logic of their own directly, the one-line ones
 * through the built schema (which is also what wires them).
 */
import { describe, expect, it, vi } from 'vitest';
import * as graphql from 'graphql';
import { buildSchema } from '../../src/api/build-schema.js';
import { agentRuns, runLogs, startAgent } from '../../src/api/runs.js';
import { StreamRegistry } from '../../src/api/streams/stream-registry.js';
import { createFakeServices, type FakeServices } from '../helpers/fake-services.js';
import { makeRun } from '../helpers/fixtures.js';

/** The data of `source` run against the schema over `services`; the first error is thrown. */
async function query(services: FakeServices, source: string): Promise<Record<string, unknown>> {
  const result = await graphql.graphql({ schema: buildSchema(), source, contextValue: { services, streams: new StreamRegistry() } });
  if (result.errors?.[0]) throw result.errors[0];
  return result.data ?? {};
}

/** `agentRun(id)` with the given selection, through the schema. */
async function agentRun(services: FakeServices, id: string, selection = 'id'): Promise<Record<string, unknown> | null> {
  const data = await query(services, `{ agentRun(id: ${JSON.stringify(id)}) { ${selection} } }`);
  return data['agentRun'] as Record<string, unknown> | null;
}

describe('run resolvers over the services', () => {
  it('agentRuns asks the service for at most `limit` runs, 50 by default', async () => {
    const services = createFakeServices();
    const list = vi.spyOn(services.runs, 'list');
    await agentRuns(services, {});
    expect(list).toHaveBeenLastCalledWith({ status: null, limit: 50 });
    await agentRuns(services, { status: ['FAILED'], limit: 5 });
    expect(list).toHaveBeenLastCalledWith({ status: ['FAILED'], limit: 5 });
  });

  it('agentRun is null for an unknown id', async () => {
    const services = createFakeServices();
    services.runs.seed(makeRun({ id: 'r' }));
    expect((await agentRun(services, 'r'))?.['id']).toBe('r');
    expect(await agentRun(services, 'x')).toBeNull();
  });

  it('startAgent replies with the run, its status and its ticket', async () => {
    const services = createFakeServices();
    await startAgent(services, { group: { id: 'g', name: 'g' }, config: {} });
    const payload = await startAgent(services, { group: { id: 'g', name: 'g' }, config: {} });
    expect(payload).toMatchObject({ agentId: payload.run.id, status: 'QUEUED', queue: { position: 1, queued: 1, running: 1 } });
  });

  it('AgentRun fields read the run service and the monitor by the run id', async () => {
    const services = createFakeServices();
    await services.runs.start({ group: { id: 'g', name: 'g' }, config: {} });
    const { run } = await services.runs.start({ group: { id: 'g', name: 'g' }, config: {} });
    const fields = await agentRun(services, run.id, 'position peak { cpuPercent }');
    expect(fields?.['position']).toBe(1);
    expect(fields?.['peak']).toBeNull();
    services.runs.log(run.id, 'a');
    services.runs.log(run.id, 'b');
    expect((await runLogs(services, run, { last: 1 })).map((line) => line.line)).toEqual(['b']);
  });
});
