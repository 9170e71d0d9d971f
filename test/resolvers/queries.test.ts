import { describe, expect, it, vi } from 'vitest';
import { BosunError } from '../../src/errors.js';
import { afterSeq, lastCount, listLimit, maxConcurrency } from '../../src/resolvers/arguments.js';
import { runLogs, runPeak, runPosition } from '../../src/resolvers/agent-run-fields.js';
import { setMaxConcurrency, startAgent } from '../../src/resolvers/mutations.js';
import { agentRun, agentRuns } from '../../src/resolvers/queries.js';
import { createFakeServices } from '../helpers/fake-services.js';
import { makeRun } from '../helpers/fixtures.js';

function badInput(run: () => unknown): { code: string; field: string | undefined; message: string } | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof BosunError) return { code: error.code, field: error.field, message: error.message };
    throw error;
  }
  return undefined;
}

describe('argument checks', () => {
  it('limit: 1..500, default 50', () => {
    expect(listLimit(undefined)).toBe(50);
    expect(listLimit(null)).toBe(50);
    expect(listLimit(1)).toBe(1);
    expect(listLimit(500)).toBe(500);
    expect(badInput(() => listLimit(0))).toEqual({
      code: 'BAD_USER_INPUT',
      field: 'limit',
      message: 'limit: expected an integer from 1 to 500, got 0',
    });
  });

  it('last and afterSeq: at least 0, integers', () => {
    expect(lastCount(0)).toBe(0);
    expect(afterSeq(null)).toBeUndefined();
    expect(badInput(() => lastCount(-1))?.field).toBe('last');
    expect(badInput(() => afterSeq(1.5))?.message).toBe('afterSeq: expected an integer of at least 0, got 1.5');
  });

  it('setMaxConcurrency value: an integer from 0 to 10000', () => {
    expect(maxConcurrency(0)).toBe(0);
    expect(maxConcurrency(10_000)).toBe(10_000);
    expect(badInput(() => maxConcurrency(2.5))?.message).toBe('value: expected an integer from 0 to 10000 (0 = unlimited), got 2.5');
    expect(badInput(() => maxConcurrency(Number.NaN))?.code).toBe('BAD_USER_INPUT');
  });
});

describe('resolvers over the services', () => {
  it('agentRuns asks the service for at most `limit` runs, 50 by default', () => {
    const services = createFakeServices();
    const list = vi.spyOn(services.runs, 'list');
    agentRuns(services, {});
    expect(list).toHaveBeenLastCalledWith({ status: null, limit: 50 });
    agentRuns(services, { status: ['FAILED'], limit: 5 });
    expect(list).toHaveBeenLastCalledWith({ status: ['FAILED'], limit: 5 });
  });

  it('agentRun is null for an unknown id', () => {
    const services = createFakeServices();
    services.runs.seed(makeRun({ id: 'r' }));
    expect(agentRun(services, 'r')?.id).toBe('r');
    expect(agentRun(services, 'x')).toBeNull();
  });

  it('startAgent replies with the run, its status and its ticket', async () => {
    const services = createFakeServices();
    await startAgent(services, { group: { id: 'g', name: 'g' }, config: {} });
    const payload = await startAgent(services, { group: { id: 'g', name: 'g' }, config: {} });
    expect(payload).toMatchObject({ agentId: payload.run.id, status: 'QUEUED', queue: { position: 1, queued: 1, running: 1 } });
  });

  it('setMaxConcurrency checks the value before touching the queue', () => {
    const services = createFakeServices();
    expect(setMaxConcurrency(services, 4).maxConcurrency).toBe(4);
    expect(badInput(() => setMaxConcurrency(services, -1))?.code).toBe('BAD_USER_INPUT');
    expect(services.queue.stats().maxConcurrency).toBe(4);
  });

  it('AgentRun fields read the run service and the monitor by the run id', async () => {
    const services = createFakeServices();
    await services.runs.start({ group: { id: 'g', name: 'g' }, config: {} });
    const { run } = await services.runs.start({ group: { id: 'g', name: 'g' }, config: {} });
    expect(runPosition(services, run)).toBe(1);
    expect(runPeak(services, run)).toBeNull();
    services.runs.log(run.id, 'a');
    services.runs.log(run.id, 'b');
    expect(runLogs(services, run, { last: 1 }).map((line) => line.line)).toEqual(['b']);
  });
});
