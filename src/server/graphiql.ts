/**
 * GraphiQL at the GraphQL endpoint, self-contained: @graphql-yoga/render-graphiql inlines its
 * scripts, styles, fonts and workers, so the page loads nothing from another host (yoga's default
 * page loads them from a CDN). Subscriptions in GraphiQL go over graphql-ws.
 */
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

/**
 * The bundled page. Its module (about 9 MB of inlined assets, some 80 MB of memory once loaded)
 * is imported on the first request for GraphiQL, not at start-up: most servers never serve it.
 */
export async function renderBundledGraphiQL(options: GraphiQLOptions): Promise<string> {
  const { renderGraphiQL } = await import('@graphql-yoga/render-graphiql');
  return renderGraphiQL(options);
}

/**
 * Yoga's `renderGraphiQL` option for this server: the bundled page, which, when bosun requires a
 * token, asks for one and sends it (see graphiql-token.ts). The page is rendered once per set of
 * options, not per request.
 */
export function createGraphiQLRenderer(options: {
  readonly tokenRequired: boolean;
  readonly graphqlPath: string;
}): (graphiql: GraphiQLOptions) => Promise<string> {
  let last: { key: string; html: Promise<string> } | undefined;
  return (graphiql) => {
    const key = JSON.stringify(graphiql);
    if (last?.key !== key) {
      const html = renderBundledGraphiQL(graphiql).then((page) => (options.tokenRequired ? withGraphiQLToken(page, options.graphqlPath) : page));
      // A failed import is retried at the next request rather than cached.
      html.catch(() => {
        if (last?.html === html) last = undefined;
      });
      last = { key, html };
    }
    return last.html;
  };
}
