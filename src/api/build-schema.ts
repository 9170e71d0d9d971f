/**
 * Builds the GraphQL schema: a fresh builder, the root types, then each domain module's types and
 * fields. The services are not captured here; resolvers reach them through the context.
 * Registration order does not show in schema.graphql (print.ts sorts the schema).
 */
import type { GraphQLSchema } from 'graphql';
import { addArtifacts } from './artifacts.js';
import { addCluster } from './cluster.js';
import { createBuilder } from './builder.js';
import { addDateTimeScalar } from './date-time.js';
import { addFailureGroups } from './failure-groups.js';
import { addMonitor } from './monitor.js';
import { addQueue } from './queue.js';
import { addRunConnection } from './run-connection.js';
import { addRuns } from './runs.js';
import { addSandbox } from './sandbox.js';

/** The bosun API schema. Pure: every call builds a new, independent schema. */
export function buildSchema(): GraphQLSchema {
  const builder = createBuilder();
  builder.queryType({ description: 'What can be read: runs, failure groups, the queue, health and advice.' });
  builder.mutationType({ description: 'What changes something: starting, retrying and cancelling runs, and the queue limit.' });
  builder.subscriptionType({
    description: 'Live streams, over graphql-ws or SSE: run updates and logs, queue positions and status, samples and alerts.',
  });
  addDateTimeScalar(builder);
  const runs = addRuns(builder);
  addFailureGroups(builder, addRunConnection(builder, runs));
  addQueue(builder, runs);
  addMonitor(builder);
  addSandbox(builder, runs);
  addArtifacts(builder);
  addCluster(builder);
  return builder.toSchema();
}
