/**
 * graphql-armor on every operation (HTTP and graphql-ws share yoga's envelop): a maximum depth,
 * number of aliases, directives and tokens, with {@link QUERY_LIMITS}; and bosun's own cost
 * limit, which counts list sizes multiplied through nesting (see query-cost.ts; armor's counts a
 * field inside a list once). A refusal says which kind of limit was hit but not the limit nor the
 * measured value (`exposeLimits: false`), so probing the limits takes more than reading one
 * error. Refusals by the validation rules are reported as validation errors (yoga's
 * GRAPHQL_VALIDATION_FAILED, HTTP 400) rather than thrown; the token limit, which works while
 * parsing, throws a syntax error.
 *
 * The cost is checked twice: by a validation rule, from the document alone (yoga caches
 * validation per document, so the rule must not depend on variables: a size given by a variable
 * counts as the variable's default, else as the field's default size); and, for an operation
 * with variables, when it is executed or subscribed, with their values. The second refusal has
 * the same message, code and HTTP status.
 */
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { GraphQLError, getOperationAST, type DocumentNode, type GraphQLSchema, type ValidationContext, type ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { operationCost, type VariableValues } from './query-cost.js';
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

/** The validation rule: each operation of the document within `maxCost`, its variables at their defaults. */
export function costLimitRule(maxCost: number): ValidationRule {
  return (context) => ({
    OperationDefinition: (operation) => {
      if (operationCost(context.getSchema(), context.getDocument(), operation) > maxCost) {
        context.reportError(new GraphQLError(QUERY_LIMIT_MESSAGES.cost, { nodes: operation }));
      }
    },
  });
}

/**
 * The cost refusal of an operation about to run with `variables`, or undefined when it is within
 * `maxCost` (or has no variables: the validation rule has counted it already).
 */
export function costRefusal(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: VariableValues,
  maxCost: number,
): GraphQLError | undefined {
  const operation = getOperationAST(document, operationName);
  if (!operation?.variableDefinitions?.length || operationCost(schema, document, operation, variables ?? {}) <= maxCost) return undefined;
  return new GraphQLError(QUERY_LIMIT_MESSAGES.cost, {
    extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } },
  });
}

/** The envelop plugin. */
export function useQueryLimits(): Plugin {
  const rule = (message: string) => ({
    exposeLimits: false,
    errorMessage: message,
    propagateOnRejection: false,
    onReject: [report(message)],
  });
  const armor = EnvelopArmorPlugin({
    maxDepth: { n: QUERY_LIMITS.maxDepth, ...rule(QUERY_LIMIT_MESSAGES.depth) },
    maxAliases: { n: QUERY_LIMITS.maxAliases, ...rule(QUERY_LIMIT_MESSAGES.aliases) },
    maxDirectives: { n: QUERY_LIMITS.maxDirectives, ...rule(QUERY_LIMIT_MESSAGES.directives) },
    // bosun's own, below: armor's counts a field inside a list once.
    costLimit: { enabled: false },
    // Counted by the parser, which has no validation context to report to: it throws.
    maxTokens: { n: QUERY_LIMITS.maxTokens, exposeLimits: false, errorMessage: QUERY_LIMIT_MESSAGES.tokens, propagateOnRejection: true },
    // Suggestions ("Did you mean…") stay: the schema is no secret (GraphiQL introspects it).
    blockFieldSuggestion: { enabled: false },
  }) as Plugin;
  const costRule = costLimitRule(QUERY_LIMITS.maxCost);
  const refuseCostly = ({ args, setResultAndStopExecution }: CostCheck): void => {
    const refusal = costRefusal(args.schema, args.document, args.operationName, args.variableValues, QUERY_LIMITS.maxCost);
    if (refusal) setResultAndStopExecution({ errors: [refusal] });
  };
  return {
    onPluginInit: ({ addPlugin }) => addPlugin(armor),
    onValidate: ({ addValidationRule }) => addValidationRule(costRule),
    onExecute: refuseCostly,
    onSubscribe: refuseCostly,
  };
}

/** What the execute and subscribe hooks get that the cost check reads. */
interface CostCheck {
  readonly args: {
    readonly schema: GraphQLSchema;
    readonly document: DocumentNode;
    readonly operationName?: string | null | undefined;
    readonly variableValues?: VariableValues;
  };
  readonly setResultAndStopExecution: (result: { errors: GraphQLError[] }) => void;
}
