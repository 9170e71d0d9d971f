/**
 * GraphiQL at the GraphQL endpoint, self-contained: @graphql-yoga/render-graphiql inlines its
 * scripts, styles, fonts and workers, so the page loads nothing from another host (yoga's default
 * page loads them from a CDN). Subscriptions in GraphiQL go over graphql-ws.
 */
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { GraphiQLOptions } from 'graphql-yoga';
import { withGraphiQLToken } from './graphiql-token.js';

/** The first tab: start an agent (over HTTP), then watch the queue (a subscription, over graphql-ws). */
export const GRAPHIQL_DEFAULT_QUERY = `# Welcome to bosun.
# Pick an operation with the run button: StartAgent puts a shell agent in line,
# WatchQueue follows the queue live (over graphql-ws).

mutation StartAgent {
  startAgent(
    input: {
      group: { id: "ci-1234", name: "flaky unit tests", runIds: ["1234"] }
      config: { agent: "shell", steps: ["echo hello from the sandbox", "uname -a"], cpus: 0.5, memory: "512m" }
    }
  ) {
    agentId
    status
    queue { position running queued maxConcurrency }
  }
}

subscription WatchQueue {
  queueStatusChanged { running queued maxConcurrency utilizationPercent paused }
}
`;

/** Yoga's `graphiql` option. */
export function graphiqlOptions(): GraphiQLOptions {
  return {
    title: 'bosun',
    subscriptionsProtocol: 'WS',
    defaultQuery: GRAPHIQL_DEFAULT_QUERY,
  };
}

/** Yoga's `renderGraphiQL` option: the bundled page. */
export const renderBundledGraphiQL: (options: GraphiQLOptions) => string = renderGraphiQL;

/**
 * Yoga's `renderGraphiQL` option for this server: the bundled page, which, when bosun requires a
 * token, asks for one and sends it (see graphiql-token.ts). The page (about 9 MB) is rendered
 * once per set of options, not per request.
 */
export function createGraphiQLRenderer(options: { readonly tokenRequired: boolean; readonly graphqlPath: string }): (
  graphiql: GraphiQLOptions,
) => string {
  let last: { key: string; html: string } | undefined;
  return (graphiql) => {
    const key = JSON.stringify(graphiql);
    if (last?.key !== key) {
      const page = renderBundledGraphiQL(graphiql);
      last = { key, html: options.tokenRequired ? withGraphiQLToken(page, options.graphqlPath) : page };
    }
    return last.html;
  };
}
