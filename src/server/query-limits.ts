/**
 * graphql-armor on every operation (HTTP and graphql-ws share yoga's envelop): a maximum depth,
 * number of aliases, directives and tokens, and a cost limit, with {@link QUERY_LIMITS}. A
 * refusal says which kind of limit was hit but not the limit nor the measured value
 * (`exposeLimits: false`), so probing the limits takes more than reading one error. Refusals by
 * the validation rules are reported as validation errors (yoga's GRAPHQL_VALIDATION_FAILED, HTTP
 * 400) rather than thrown; the token limit, which works while parsing, throws a syntax error.
 */
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { GraphQLError, type ValidationContext } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { QUERY_LIMITS } from './server-limits.js';

/** What a client reads for each kind of refusal. */
export const QUERY_LIMIT_MESSAGES = {
  depth: 'The operation is nested too deeply.',
  aliases: 'The operation has too many aliases.',
  directives: 'The operation has too many directives.',
  tokens: 'The operation is too long.',
  cost: 'The operation would cost too much to run.',
} as const;

/** Reports a refusal as a validation error with our message, instead of throwing armor's. */
const report =
  (message: string) =>
  (context: ValidationContext | null, _error: GraphQLError): void => {
    context?.reportError(new GraphQLError(message));
  };

/** The envelop plugin. */
export function useQueryLimits(): Plugin {
  const rule = (message: string) => ({
    exposeLimits: false,
    errorMessage: message,
    propagateOnRejection: false,
    onReject: [report(message)],
  });
  return EnvelopArmorPlugin({
    maxDepth: { n: QUERY_LIMITS.maxDepth, ...rule(QUERY_LIMIT_MESSAGES.depth) },
    maxAliases: { n: QUERY_LIMITS.maxAliases, ...rule(QUERY_LIMIT_MESSAGES.aliases) },
    maxDirectives: { n: QUERY_LIMITS.maxDirectives, ...rule(QUERY_LIMIT_MESSAGES.directives) },
    costLimit: { maxCost: QUERY_LIMITS.maxCost, ...rule(QUERY_LIMIT_MESSAGES.cost) },
    // Counted by the parser, which has no validation context to report to: it throws.
    maxTokens: { n: QUERY_LIMITS.maxTokens, exposeLimits: false, errorMessage: QUERY_LIMIT_MESSAGES.tokens, propagateOnRejection: true },
    // Suggestions ("Did you mean…") stay: the schema is no secret (GraphiQL introspects it).
    blockFieldSuggestion: { enabled: false },
  });
}
