/**
 * graphql-request as its users call it, against the real server over the fakes: `request()`
 * (POST, JSON), a GraphQLClient with `method: 'GET'` (the query in the URL, no header of
 * bosun's), and its ClientError for bosun's coded errors.
 */
import { ClientError, GraphQLClient, gql, request } from 'graphql-request';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeServices } from '../helpers/fake-services.js';
import { startTestServer, type TestServer } from '../helpers/start-test-server.js';

let test: TestServer<FakeServices>;
beforeEach(async () => {
  test = await startTestServer();
});
afterEach(async () => {
  await test.close();
});

const START = gql`
  mutation Start($input: StartAgentInput!) {
    startAgent(input: $input) {
      agentId
      queue {
        position
      }
    }
  }
`;

const RUN = gql`
  query Run($id: ID!) {
    agentRun(id: $id) {
      id
      status
      queuedAt
      group {
        id
        name
        runIds
      }
    }
  }
`;

describe('graphql-request', () => {
  it('POSTs a mutation and a query with request()', async () => {
    const started = await request<{ startAgent: { agentId: string; queue: { position: number } } }>(test.url, START, {
      input: { group: { id: 'g', name: 'flaky', runIds: ['ci-1'] }, config: { steps: ['true'] } },
    });
    expect(started.startAgent.queue.position).toBe(0);
    const read = await request<{ agentRun: { id: string; queuedAt: string; group: unknown } }>(test.url, RUN, { id: started.startAgent.agentId });
    expect(read.agentRun).toMatchObject({ id: started.startAgent.agentId, group: { id: 'g', name: 'flaky', runIds: ['ci-1'] } });
    // DateTime arrives as the ISO string it always was.
    expect(read.agentRun.queuedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it("sends queries as GET with method: 'GET', and they are answered without any extra header", async () => {
    const methods: string[] = [];
    const client = new GraphQLClient(test.url, {
      method: 'GET',
      fetch: (input: RequestInfo | URL, init?: RequestInit) => {
        methods.push(init?.method ?? 'GET');
        return fetch(input, init);
      },
    });
    const { run } = await test.services.runs.start({ group: { id: 'g', name: 'g' }, config: {} });
    const data = await client.request<{ agentRun: { id: string; status: string } }>(RUN, { id: run.id });
    expect(data.agentRun).toMatchObject({ id: run.id, status: 'RUNNING' });
    const page = await client.request<{ runs: { totalCount: number; edges: unknown[] } }>(gql`
      {
        runs(first: 1) {
          totalCount
          edges {
            cursor
          }
        }
      }
    `);
    expect(page.runs).toMatchObject({ totalCount: 1, edges: [{ cursor: expect.any(String) as string }] });
    expect(methods).toEqual(['GET', 'GET']);
  });

  it("rejects with a ClientError carrying bosun's code", async () => {
    const error = await request<unknown>(test.url, RUN, { id: 'has spaces' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
  });

  it("sends a mutation as POST even with method: 'GET' (bosun would refuse a GET mutation with 405)", async () => {
    const methods: string[] = [];
    const client = new GraphQLClient(test.url, {
      method: 'GET',
      fetch: (input: RequestInfo | URL, init?: RequestInit) => {
        methods.push(init?.method ?? 'GET');
        return fetch(input, init);
      },
    });
    await client.request(START, { input: { group: { id: 'g', name: 'g' }, config: {} } });
    expect(methods).toEqual(['POST']);
    expect(await test.services.runs.list()).toHaveLength(1);
  });
});
