/**
 * Builds the GraphQL schema: a fresh builder, every type registered on it, one schema out.
 * The services are not captured here; resolvers reach them through the context.
 */
import type { GraphQLSchema } from 'graphql';
import { createBuilder } from './builder.js';
import { addMutationType } from './mutation.js';
import { addQueryType } from './query.js';
import { addSubscriptionType } from './subscription.js';
import { addAgentRunTypes } from './types/agent-run.js';
import { addConcurrencyAdviceType } from './types/concurrency-advice.js';
import { addDateTimeScalar } from './types/date-time.js';
import { addEnums } from './types/enums.js';
import { addHealthAlertType } from './types/health-alert.js';
import { addHealthReportTypes } from './types/health-report.js';
import { addLogLineType } from './types/log-line.js';
import { addQueueTypes } from './types/queue-status.js';
import { addResourceSampleTypes } from './types/resource-sample.js';
import { addStartAgentTypes } from './types/start-agent.js';

/** The bosun API schema. Pure: every call builds a new, independent schema. */
export function buildSchema(): GraphQLSchema {
  const builder = createBuilder();
  addDateTimeScalar(builder);
  const enums = addEnums(builder);
  addAgentRunTypes(builder, enums);
  addLogLineType(builder, enums);
  addQueueTypes(builder, enums);
  addResourceSampleTypes(builder);
  addHealthAlertType(builder, enums);
  addHealthReportTypes(builder, enums);
  addConcurrencyAdviceType(builder);
  const startAgent = addStartAgentTypes(builder, enums);
  addQueryType(builder, enums);
  addMutationType(builder, startAgent);
  addSubscriptionType(builder, enums);
  return builder.toSchema();
}
