/**
 * Apollo Client 4 as its users set it up (an HttpLink for queries and mutations, a GraphQLWsLink
 * over graphql-ws for subscriptions, split by operation type, and its normalising InMemoryCache)
 * against the whole service with real runs: a query, startAgent, queuePositionChanged and
 * agentLogs followed to their completion, cancelAgent, pages of runs, and two runs of one failure
 * group that agree in the cache (the cache stores `FailureGroup:<id>` once; before groups were
 * entities, the run read second overwrote the first run's group name).
 */
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql, type NormalizedCacheObject } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { Kind, OperationTypeNode } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { within } from '../helpers/graphql-clients.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

let app: TestApp;
let ws: Client;
let apollo: ApolloClient;

beforeEach(async () => {
  app = await startTestApp({ MAX_CONCURRENT_AGENTS: '1' });
  ws = createClient({ url: app.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
  const link = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === Kind.OPERATION_DEFINITION && definition.operation === OperationTypeNode.SUBSCRIPTION;
    },
    new GraphQLWsLink(ws),
    new HttpLink({ uri: app.url }),
  );
  apollo = new ApolloClient({ link, cache: new InMemoryCache() });
});

afterEach(async () => {
  apollo.stop();
  await ws.dispose();
  expect(await app.close(), 'containers left behind by the app').toBe(0);
});

const START = gql`
  mutation Start($input: StartAgentInput!) {
    startAgent(input: $input) {
      agentId
      status
      queue {
        position
      }
      run {
        id
        status
        group {
          id
          name
          runIds
        }
      }
    }
  }
`;

interface Started {
  readonly startAgent: { agentId: string; status: string; queue: { position: number } };
}

async function start(steps: string[], group: { id: string; name: string; runIds: string[] }): Promise<Started['startAgent']> {
  const { data, error } = await apollo.mutate<Started>({ mutation: START, variables: { input: { group, config: { steps } } } });
  if (error) throw new Error(`startAgent failed: ${error.message}`);
  if (!data) throw new Error('startAgent answered no data');
  return data.startAgent;
}

/** Every result of an Apollo subscription until it completes (each within `perResultMs`). */
function followToEnd<T>(query: ReturnType<typeof gql>, variables: Record<string, unknown>, what: string): { results: T[]; done: Promise<T[]> } {
  const results: T[] = [];
  const done = new Promise<T[]>((resolve, reject) => {
    apollo.subscribe<T>({ query, variables }).subscribe({
      next: (result) => {
        if (result.error) reject(new Error(`${what}: ${result.error.message}`));
        else if (result.data) results.push(result.data);
      },
      error: (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
      complete: () => resolve(results),
    });
  });
  return { results, done: within(done, what, 60_000) };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('Apollo Client with an HTTP link and a graphql-ws link', () => {
  it('queries, starts runs, follows queuePositionChanged and agentLogs to their end, and cancels', async () => {
    const status = await apollo.query<{ queueStatus: { maxConcurrency: number; running: number } }>({
      query: gql`
        query Status {
          queueStatus {
            maxConcurrency
            running
          }
        }
      `,
    });
    expect(status.data?.queueStatus).toMatchObject({ maxConcurrency: 1, running: 0 });

    // The first run holds the only slot until it is cancelled; the second waits behind it.
    const holder = await start(['sleep 300'], { id: 'g-apollo', name: 'holder', runIds: ['ci-1'] });
    expect(holder.queue.position).toBe(0);
    const waiting = await start(['echo hello from bosun', 'echo second line'], { id: 'g-apollo', name: 'waiting', runIds: ['ci-2'] });
    expect(waiting).toMatchObject({ status: 'QUEUED', queue: { position: 1 } });

    const positions = followToEnd<{ queuePositionChanged: { status: string; position: number } }>(
      gql`
        subscription Position($id: ID!) {
          queuePositionChanged(agentId: $id) {
            agentId
            status
            position
          }
        }
      `,
      { id: waiting.agentId },
      'queuePositionChanged to complete',
    );
    await until(() => positions.results.length === 1, 'the first position');
    expect(positions.results[0]?.queuePositionChanged).toMatchObject({ status: 'QUEUED', position: 1 });

    const logs = followToEnd<{ agentLogs: { seq: number; stream: string; line: string } }>(
      gql`
        subscription Logs($id: ID!) {
          agentLogs(agentId: $id) {
            seq
            stream
            line
          }
        }
      `,
      { id: waiting.agentId },
      'agentLogs to complete',
    );

    const cancelled = await apollo.mutate<{ cancelAgent: { id: string; status: string } }>({
      mutation: gql`
        mutation Cancel($id: ID!) {
          cancelAgent(id: $id) {
            id
            status
          }
        }
      `,
      variables: { id: holder.agentId },
    });
    expect(cancelled.data?.cancelAgent).toEqual({ __typename: 'AgentRun', id: holder.agentId, status: 'CANCELLED' });

    expect((await positions.done).map((result) => result.queuePositionChanged)).toEqual([
      expect.objectContaining({ status: 'QUEUED', position: 1 }),
      expect.objectContaining({ status: 'RUNNING', position: 0 }),
    ]);
    const lines = await logs.done;
    const output = lines.filter((result) => result.agentLogs.stream === 'STDOUT').map((result) => result.agentLogs.line);
    expect(output).toEqual(['hello from bosun', 'second line']);
    // Every line once, in order, to the run's end.
    expect(lines.map((result) => result.agentLogs.seq)).toEqual(lines.map((_, index) => index + 1));

    const final = await apollo.query<{ agentRun: { status: string; finishedAt: string } }>({
      query: gql`
        query Final($id: ID!) {
          agentRun(id: $id) {
            id
            status
            finishedAt
          }
        }
      `,
      variables: { id: waiting.agentId },
      fetchPolicy: 'network-only',
    });
    expect(final.data?.agentRun).toMatchObject({ status: 'SUCCEEDED', finishedAt: expect.stringMatching(/Z$/) as string });
  });

  it('keeps one FailureGroup per id in its cache: two runs of one group with different names agree, and page through the group', async () => {
    const first = await start(['true'], { id: 'g-cache', name: 'first name', runIds: ['ci-1'] });
    const second = await start(['true'], { id: 'g-cache', name: 'second name', runIds: ['ci-2', 'ci-1'] });
    const RUN_GROUP = gql`
      query RunGroup($id: ID!) {
        agentRun(id: $id) {
          id
          group {
            id
            name
            runIds
          }
        }
      }
    `;
    type RunGroup = { agentRun: { id: string; group: { id: string; name: string; runIds: string[] } } };
    const a = await apollo.query<RunGroup>({ query: RUN_GROUP, variables: { id: first.agentId }, fetchPolicy: 'network-only' });
    const b = await apollo.query<RunGroup>({ query: RUN_GROUP, variables: { id: second.agentId }, fetchPolicy: 'network-only' });
    const group = { __typename: 'FailureGroup', id: 'g-cache', name: 'second name', runIds: ['ci-1', 'ci-2'] };
    expect(a.data?.agentRun.group).toEqual(group);
    expect(b.data?.agentRun.group).toEqual(group);
    // What the cache holds, and what each run reads from it, agree with the server.
    const cached = apollo.cache.extract() as NormalizedCacheObject;
    expect(cached['FailureGroup:g-cache']).toMatchObject({ name: 'second name', runIds: ['ci-1', 'ci-2'] });
    expect(apollo.readQuery<RunGroup>({ query: RUN_GROUP, variables: { id: first.agentId } })?.agentRun.group).toEqual(group);

    type GroupRuns = {
      failureGroup: { runs: { edges: { node: { id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };
    };
    const pages: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 5; page += 1) {
      const result: { data?: GroupRuns | undefined } = await apollo.query<GroupRuns>({
        query: gql`
          query GroupRuns($after: String) {
            failureGroup(id: "g-cache") {
              id
              name
              runs(first: 1, after: $after) {
                edges {
                  cursor
                  node {
                    id
                  }
                }
                pageInfo {
                  hasNextPage
                  endCursor
                }
                totalCount
              }
            }
          }
        `,
        variables: { after },
      });
      const runs = result.data?.failureGroup.runs;
      pages.push(...(runs?.edges.map((edge) => edge.node.id) ?? []));
      if (!runs?.pageInfo.hasNextPage) break;
      after = runs.pageInfo.endCursor;
    }
    expect(pages).toEqual([second.agentId, first.agentId]);
  });
});
