/**
 * urql (@urql/core) as its users set it up, against the real server over the fakes: its default
 * exchanges send queries as GET (`preferGetMethod: 'within-url-limit'`) with no header of
 * bosun's, mutations as POST, and its subscription exchange forwards to the graphql-sse client
 * (distinct connections: one SSE response per subscription), which yoga serves as it is.
 */
import { Client, cacheExchange, fetchExchange, gql, subscriptionExchange } from '@urql/core';
import { createClient as createSseClient } from 'graphql-sse';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeServices } from '../helpers/fake-services.js';
import { eventually, within } from '../helpers/graphql-clients.js';
import { startTestServer, type TestServer } from '../helpers/start-test-server.js';

let test: TestServer<FakeServices>;
/** Every request urql sent, as method and URL (fetch is only watched, not changed). */
let sent: { method: string; url: string }[];

beforeEach(async () => {
  test = await startTestServer();
  sent = [];
});
afterEach(async () => {
  await test.close();
});

const watchedFetch: typeof fetch = (input, init) => {
  sent.push({ method: init?.method ?? 'GET', url: typeof input === 'string' ? input : input instanceof URL ? input.href : input.url });
  return fetch(input, init);
};

/** urql's defaults: the cache and fetch exchanges, with graphql-sse for subscriptions. */
function urqlClient(): { client: Client; dispose: () => void } {
  const sse = createSseClient({ url: test.url, retryAttempts: 0 });
  const client = new Client({
    url: test.url,
    fetch: watchedFetch,
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? '' };
          return {
            subscribe(sink) {
              const unsubscribe = sse.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });
  return { client, dispose: () => sse.dispose() };
}

const START = gql`
  mutation Start($input: StartAgentInput!) {
    startAgent(input: $input) {
      agentId
      status
    }
  }
`;

describe('urql with its defaults', () => {
  it('sends queries as GET without extra headers, and they are answered', async () => {
    const { client, dispose } = urqlClient();
    const result = await client
      .query(
        gql`
          query Status {
            queueStatus {
              maxConcurrency
              queued
            }
          }
        `,
        {},
      )
      .toPromise();
    expect(result.error).toBeUndefined();
    expect(result.data).toEqual({ queueStatus: { __typename: 'QueueStatus', maxConcurrency: 1, queued: 0 } });
    expect(sent).toEqual([expect.objectContaining({ method: 'GET' })]);
    expect(sent[0]?.url).toContain('query=');
    dispose();
  });

  it('sends a mutation as POST, and reads the new run back with a GET query, cursors and all', async () => {
    const { client, dispose } = urqlClient();
    const started = await client.mutation(START, { input: { group: { id: 'g', name: 'flaky' }, config: { steps: ['true'] } } }).toPromise();
    expect(started.error).toBeUndefined();
    const agentId = (started.data as { startAgent: { agentId: string } }).startAgent.agentId;
    const runs = await client
      .query(
        gql`
          query Runs($groupId: String) {
            runs(first: 10, groupId: $groupId) {
              edges {
                cursor
                node {
                  id
                  group {
                    id
                    name
                  }
                }
              }
              pageInfo {
                hasNextPage
              }
              totalCount
            }
          }
        `,
        { groupId: 'g' },
      )
      .toPromise();
    expect(runs.error).toBeUndefined();
    const connection = (runs.data as { runs: { edges: { node: { id: string } }[]; totalCount: number } }).runs;
    expect(connection.edges.map((edge) => edge.node.id)).toEqual([agentId]);
    expect(connection.totalCount).toBe(1);
    expect(sent.map((request) => request.method)).toEqual(['POST', 'GET']);
    dispose();
  });

  it('follows agentLogs over SSE (graphql-sse) to completion', async () => {
    const { client, dispose } = urqlClient();
    const { run } = await test.services.runs.start({ group: { id: 'g', name: 'g' }, config: {} });
    test.services.runs.log(run.id, 'first');
    const lines: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      client
        .subscription(
          gql`
            subscription Logs($agentId: ID!) {
              agentLogs(agentId: $agentId) {
                seq
                line
              }
            }
          `,
          { agentId: run.id },
        )
        .subscribe((result) => {
          if (result.error) reject(result.error);
          // When the stream completes, urql repeats the last result with `hasNext: false`.
          else if (!result.hasNext) resolve();
          else lines.push((result.data as { agentLogs: { line: string } }).agentLogs.line);
        });
    });
    await eventually(() => lines.length === 1, 'the replayed line');
    test.services.runs.log(run.id, 'second');
    test.services.runs.log(run.id, 'third');
    test.services.runs.finish(run.id);
    await within(done, 'the log stream to complete');
    expect(lines).toEqual(['first', 'second', 'third']);
    await eventually(() => test.server.streams.size === 0, 'the SSE stream to close');
    dispose();
  });

  it('gets a query over SSE too when the graphql-sse client is used directly', async () => {
    const sse = createSseClient({ url: test.url, retryAttempts: 0 });
    const results: unknown[] = [];
    await within(
      new Promise<void>((resolve, reject) => {
        sse.subscribe({ query: '{ queueStatus { running } }' }, { next: (value) => results.push(value), error: reject, complete: resolve });
      }),
      'the query over SSE',
    );
    expect(results).toEqual([{ data: { queueStatus: { running: 0 } } }]);
    sse.dispose();
  });
});
