/**
 * The cost of an operation: about how many values its result can hold, counting list sizes
 * multiplied through nesting. graphql-armor's cost limit counts a list only for a literal
 * `first`/`last`, and a field inside a list once: 20 aliases of
 * `agentRuns(limit: 500) { logs { line } }` passed it, and took 12 s and 2.4 GB to answer.
 *
 * The cost of a selection is the sum over its fields of
 * `1 + size × (cost of the field's selection, or 1 for a list of scalars)`, where `size` is 1
 * for a field that is not a list, and for a list:
 * - the value of its size argument (`limit`, `last`, `first`): a literal, or a variable's value
 *   (see {@link operationCost} for a variable whose value is not known yet), capped at the
 *   field's largest answer where the resolver refuses more;
 * - else the size it answers with by default (`agentRuns` 50, `logs` every line kept:
 *   LOG_LINES_PER_RUN's default, 10,000; `samples` about what the history window holds);
 * - else {@link DEFAULT_LIST_SIZE};
 * - for the `edges` of a connection (GraphQL Cursor Connections: `runs(first)`), the size its
 *   connection field says, from `first` as above ({@link CONNECTION_SIZES}): the connection
 *   field itself is no list, its `edges` are.
 * Introspection (`__schema`, `__type`) costs nothing: the schema bounds it. A fragment costs the
 * same wherever it is spread (its cost is computed once per operation).
 */
import {
  Kind,
  getNamedType,
  isCompositeType,
  isListType,
  isNonNullType,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { RUN_LIST_DEFAULT_LIMIT, RUN_LIST_MAX_LIMIT } from '../api/arguments.js';
import { CONNECTION_DEFAULT_FIRST, CONNECTION_MAX_FIRST } from '../api/run-connection.js';

/** How a list field is sized when the cost is counted. */
export interface ListSize {
  /** The argument that sets its length. */
  readonly argument: string;
  /** Its length without that argument. */
  readonly default: number;
  /** The most it answers with: a larger argument counts as this (the resolver refuses it anyway). */
  readonly max?: number;
}

/** The arguments that set a list's length, on a field that {@link LIST_SIZES} does not name. */
export const SIZE_ARGUMENTS = ['limit', 'last', 'first'] as const;

/** The assumed length of a list without a size argument and without an entry in {@link LIST_SIZES}. */
export const DEFAULT_LIST_SIZE = 20;

/** bosun's lists whose size is known, by schema coordinate. */
export const LIST_SIZES: Readonly<Record<string, ListSize>> = {
  'Query.agentRuns': { argument: 'limit', default: RUN_LIST_DEFAULT_LIMIT, max: RUN_LIST_MAX_LIMIT },
  // Every line kept (LOG_LINES_PER_RUN, by default 10,000); `last` beyond them answers them all.
  'AgentRun.logs': { argument: 'last', default: 10_000 },
  // The history window (15 minutes of samples at one a second), then one a minute.
  'AgentRun.samples': { argument: 'last', default: 1_000 },
};

/** bosun's connection fields, by schema coordinate: how many edges they answer with. */
export const CONNECTION_SIZES: Readonly<Record<string, ListSize>> = {
  'Query.runs': { argument: 'first', default: CONNECTION_DEFAULT_FIRST, max: CONNECTION_MAX_FIRST },
  'FailureGroup.runs': { argument: 'first', default: CONNECTION_DEFAULT_FIRST, max: CONNECTION_MAX_FIRST },
};

/** The list fields of connection types that hold as many items as their connection field's size. */
export const CONNECTION_LISTS: ReadonlySet<string> = new Set(['AgentRunConnection.edges']);

/** The largest value of GraphQL's Int. */
const MAX_INT = 2 ** 31 - 1;

/** Variable values, when known (at execution). */
export type VariableValues = Readonly<Record<string, unknown>> | null | undefined;

/**
 * The cost of `operation` (see the module comment).
 * @param variables the operation's variable values. Without them (at validation, which is cached
 *   per document and so must not depend on them), a size given by a variable counts as the
 *   variable's default value, or as 1 without one: the document alone is counted, and the
 *   operation must be counted again with its variables before it runs. With them, a variable
 *   without a value counts as its default, else as the field's default size.
 */
export function operationCost(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables?: VariableValues): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const variableDefaults = new Map<string, ValueNode>();
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue) variableDefaults.set(definition.variable.name.value, definition.defaultValue);
  }
  const fragmentCosts = new Map<string, number>();
  /** Fragments being counted: a cycle (which validation refuses) counts nothing. */
  const counting = new Set<string>();

  /** A size argument's value: undefined when absent (or null), NaN when it is no number. */
  const sizeValue = (value: ValueNode | undefined): number | undefined => {
    if (value === undefined || value.kind === Kind.NULL) return undefined;
    if (value.kind === Kind.INT) return Number.parseInt(value.value, 10);
    if (value.kind !== Kind.VARIABLE) return Number.NaN;
    const name = value.name.value;
    if (variables && name in variables) {
      const given = variables[name];
      if (given === null || given === undefined) return undefined;
      return typeof given === 'number' ? given : Number.NaN;
    }
    const fallback = variableDefaults.get(name);
    if (fallback || variables) return sizeValue(fallback);
    return 1;
  };

  const listSize = (field: GraphQLField<unknown, unknown>, node: FieldNode, known: ListSize | undefined): number => {
    const argumentNames = known ? [known.argument] : SIZE_ARGUMENTS.filter((name) => field.args.some((arg) => arg.name === name));
    for (const name of argumentNames) {
      const size = sizeValue(node.arguments?.find((argument) => argument.name.value === name)?.value);
      if (size === undefined) continue;
      // A size that graphql-js (not a 32-bit Int) or the resolver (negative) refuses answers
      // nothing but that error, which is the one to report.
      if (!Number.isInteger(size) || size < 0 || size > MAX_INT) return 0;
      return Math.min(size, known?.max ?? size);
    }
    return known?.default ?? DEFAULT_LIST_SIZE;
  };

  /** `edges` is the size of the connection whose selection this is, if it is one's. */
  const selectionCost = (parent: GraphQLCompositeType, selectionSet: SelectionSetNode, edges?: number): number => {
    let cost = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        cost += fieldCost(parent, selection, edges);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
        cost += isCompositeType(type) ? selectionCost(type, selection.selectionSet, edges) : 0;
      } else {
        cost += fragmentCost(selection.name.value, edges);
      }
    }
    return cost;
  };

  const fragmentCost = (name: string, edges: number | undefined): number => {
    // A fragment on a connection costs what the size of the connection it is spread in makes it.
    const key = edges === undefined ? name : `${name}@${edges}`;
    const known = fragmentCosts.get(key);
    if (known !== undefined) return known;
    const fragment = fragments.get(name);
    if (!fragment || counting.has(name)) return 0;
    const type = schema.getType(fragment.typeCondition.name.value);
    if (!isCompositeType(type)) return 0;
    counting.add(name);
    const cost = selectionCost(type, fragment.selectionSet, edges);
    counting.delete(name);
    fragmentCosts.set(key, cost);
    return cost;
  };

  const fieldCost = (parent: GraphQLCompositeType, node: FieldNode, edges: number | undefined): number => {
    const name = node.name.value;
    if (name === '__schema' || name === '__type') return 0;
    const field = 'getFields' in parent ? parent.getFields()[name] : undefined;
    // __typename, or a field that validation refuses.
    if (!field) return 1;
    const coordinate = `${parent.name}.${name}`;
    const named = getNamedType(field.type);
    const connection = CONNECTION_SIZES[coordinate];
    if (connection) {
      const size = listSize(field, node, connection);
      return 1 + (node.selectionSet && isCompositeType(named) ? selectionCost(named, node.selectionSet, size) : 0);
    }
    const size = !isList(field.type)
      ? 1
      : edges !== undefined && CONNECTION_LISTS.has(coordinate)
        ? edges
        : listSize(field, node, LIST_SIZES[coordinate]);
    const each = node.selectionSet && isCompositeType(named) ? selectionCost(named, node.selectionSet) : isList(field.type) ? 1 : 0;
    return 1 + size * each;
  };

  const root = schema.getRootType(operation.operation);
  return root ? selectionCost(root, operation.selectionSet) : 0;
}

function isList(type: GraphQLOutputType): boolean {
  return isListType(isNonNullType(type) ? type.ofType : type);
}
