/**
 * `runs` and `FailureGroup.runs` as GraphQL Cursor Connections, through the schema over the
 * fakes: pages newest first, cursors that continue where a page ended whatever was added
 * meanwhile, filters, totalCount, and refusals of a bad `first` or cursor.
 */
import { describe, expect, it } from 'vitest';
import * as graphql from 'graphql';
import { buildSchema } from '../../src/api/build-schema.js';
import { parseRunCursor, runCursor } from '../../src/api/run-connection.js';
import { StreamRegistry } from '../../src/api/streams/stream-registry.js';
import { BosunError } from '../../src/errors.js';
import { createFakeServices, type FakeServices } from '../helpers/fake-services.js';
import { makeRun } from '../helpers/fixtures.js';

const schema = buildSchema();

async function run(services: FakeServices, source: string, variableValues?: Record<string, unknown>) {
  return graphql.graphql({ schema, source, variableValues, contextValue: { services, streams: new StreamRegistry() } });
}

interface Page {
  edges: { cursor: string; node: { id: string } }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  totalCount: number;
}

const RUNS = /* GraphQL */ `
  query Runs($first: Int, $after: String, $status: [AgentStatus!], $groupId: String) {
    runs(first: $first, after: $after, status: $status, groupId: $groupId) {
      edges {
        cursor
        node {
          id
        }
      }
      pageInfo {
        hasNextPage
        hasPreviousPage
        startCursor
        endCursor
      }
      totalCount
    }
  }
`;

async function page(services: FakeServices, variables: Record<string, unknown>): Promise<Page> {
  const result = await run(services, RUNS, variables);
  if (result.errors?.[0]) throw result.errors[0];
  return (result.data as { runs: Page }).runs;
}

const ids = (p: Page): string[] => p.edges.map((edge) => edge.node.id);

function seeded(count: number, groupOf: (n: number) => string = () => 'g'): FakeServices {
  const services = createFakeServices();
  for (let n = 1; n <= count; n += 1) {
    const group = groupOf(n);
    services.runs.seed(makeRun({ id: `r${n}`, group: { id: group, name: `${group} ${n}`, runIds: [`ci-${n}`] } }));
  }
  return services;
}

describe('Query.runs', () => {
  it('pages newest first with opaque cursors, and continues after endCursor', async () => {
    const services = seeded(5);
    const first = await page(services, { first: 2 });
    expect(ids(first)).toEqual(['r5', 'r4']);
    expect(first.pageInfo).toEqual({
      hasNextPage: true,
      hasPreviousPage: false,
      startCursor: first.edges[0]?.cursor,
      endCursor: first.edges[1]?.cursor,
    });
    expect(first.totalCount).toBe(5);
    // Opaque: base64, naming nothing a client should build on.
    expect(first.pageInfo.endCursor).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const second = await page(services, { first: 2, after: first.pageInfo.endCursor });
    expect(ids(second)).toEqual(['r3', 'r2']);
    expect(second.pageInfo.hasPreviousPage).toBe(true);
    const last = await page(services, { first: 2, after: second.pageInfo.endCursor });
    expect(ids(last)).toEqual(['r1']);
    expect(last.pageInfo.hasNextPage).toBe(false);
    const empty = await page(services, { first: 2, after: last.pageInfo.endCursor });
    expect(empty.edges).toEqual([]);
    expect(empty.pageInfo).toMatchObject({ hasNextPage: false, startCursor: null, endCursor: null });
  });

  it('answers 50 runs by default and first: 0 with no edge but the count', async () => {
    const services = seeded(60);
    expect((await page(services, {})).edges).toHaveLength(50);
    const none = await page(services, { first: 0 });
    expect(none).toMatchObject({ edges: [], totalCount: 60, pageInfo: { hasNextPage: true } });
  });

  it('filters by status and group, and counts what it filters', async () => {
    const services = seeded(6, (n) => (n % 2 === 0 ? 'even' : 'odd'));
    services.runs.update('r4', { status: 'RUNNING' });
    expect(ids(await page(services, { groupId: 'even' }))).toEqual(['r6', 'r4', 'r2']);
    expect(ids(await page(services, { status: ['RUNNING'] }))).toEqual(['r4']);
    expect(ids(await page(services, { status: ['QUEUED'], groupId: 'even' }))).toEqual(['r6', 'r2']);
    expect((await page(services, { status: [], groupId: 'odd' })).totalCount).toBe(3);
    expect((await page(services, { groupId: 'none' })).totalCount).toBe(0);
  });

  it('refuses a first out of 0..500 and a cursor bosun did not give out, with BAD_USER_INPUT naming the argument', async () => {
    const services = seeded(2);
    const good = runCursor(1);
    const bad = [
      'nope',
      '',
      Buffer.from('run:0').toString('base64'),
      Buffer.from('run:-1').toString('base64'),
      Buffer.from('run:01').toString('base64'),
      Buffer.from('run:1e3').toString('base64'),
      Buffer.from('arrayconnection:1').toString('base64'),
      Buffer.from(`run:${2 ** 60}`).toString('base64'),
      `${good}=`,
      good.replace(/=+$/, ''),
    ];
    for (const after of bad) {
      const result = await run(services, RUNS, { after });
      expect(result.errors?.[0]?.originalError, after).toBeInstanceOf(BosunError);
      expect(result.errors?.[0]?.originalError, after).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    }
    for (const first of [-1, 501]) {
      const result = await run(services, RUNS, { first });
      expect(result.errors?.[0]?.originalError, String(first)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    }
    expect(parseRunCursor('after', good)).toBe(1);
  });
});

describe('failure groups', () => {
  it('are one entity per id: every run shows the name given last and every CI run id; failureGroup reads it; its runs page', async () => {
    const services = createFakeServices();
    services.runs.seed(makeRun({ id: 'a', group: { id: 'g', name: 'old name', runIds: ['ci-1'] } }));
    services.runs.seed(makeRun({ id: 'other', group: { id: 'h', name: 'h', runIds: [] } }));
    services.runs.seed(makeRun({ id: 'b', group: { id: 'g', name: 'new name', runIds: ['ci-2'] } }));
    const result = await run(
      services,
      `{
        a: agentRun(id: "a") { group { id name runIds } }
        b: agentRun(id: "b") { group { id name runIds } }
        failureGroup(id: "g") { name runs(first: 1) { edges { node { id } } pageInfo { hasNextPage endCursor } totalCount } }
        none: failureGroup(id: "nope") { name }
      }`,
    );
    expect(result.errors).toBeUndefined();
    const data = result.data as Record<string, { group?: unknown } & Record<string, unknown>>;
    const group = { id: 'g', name: 'new name', runIds: ['ci-1', 'ci-2'] };
    expect(data['a']?.group).toEqual(group);
    expect(data['b']?.group).toEqual(group);
    expect(data['failureGroup']).toEqual({
      name: 'new name',
      runs: { edges: [{ node: { id: 'b' } }], pageInfo: { hasNextPage: true, endCursor: expect.any(String) as string }, totalCount: 2 },
    });
    expect(data['none']).toBeNull();
  });
});
