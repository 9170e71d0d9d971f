/**
 * Builds the GraphQL schema: a fresh builder, the root types, then each domain module's types and
 * fields. The services are not captured here; resolvers reach them through the context.
 * Registration order does not show in schema.graphql (print.ts sorts the schema).
 */
import type { GraphQLSchema } from 'graphql';
import { addArtifacts } from './artifacts.js';
import { createBuilder } from './builder.js';
import { addDateTimeScalar } from './date-time.js';
import { addMonitor } from './monitor.js';
import { addQueue } from './queue.js';
import { addRuns } from './runs.js';
import { addSandbox } from './sandbox.js';

/** The bosun API schema. Pure: every call builds a new, independent schema. */
export function buildSchema(): GraphQLSchema {
  const builder = createBuilder();
  builder.queryType({});
  builder.mutationType({});
  builder.subscriptionType({});
  addDateTimeScalar(builder);
  const runs = addRuns(builder);
  addQueue(builder, runs);
  addMonitor(builder);
  addSandbox(builder, runs);
  addArtifacts(builder);
  return builder.toSchema();
}
