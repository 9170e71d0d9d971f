/**
 * The one place where errors become what clients see. Plugged into yoga as
 * `maskedErrors.maskError`, it runs for every result over HTTP, SSE and graphql-ws (the latter
 * through yoga's enveloped execute/subscribe): an error caused by a BosunError becomes a
 * GraphQLError with `extensions.code` = its code (and `extensions.field` when it names one);
 * anything else goes to yoga's masking ("Unexpected error.").
 *
 * Errors about the values given to arguments get `extensions.code` BAD_USER_INPUT whoever
 * finds them — the run service, a resolver, or graphql-js itself — so that a client has one code
 * to look for:
 * - graphql-js validation of literals (ValuesOfCorrectTypeRule: a wrong type, an unknown enum
 *   value, a missing or unknown input field, an Int out of range) and of required arguments
 *   (ProvidedRequiredArgumentsRule), see {@link useArgumentErrorCodes}; the message is prefixed
 *   with the argument path (`input.config.cpus: Float cannot represent…`), also given as
 *   `extensions.field`. Every other validation error keeps yoga's GRAPHQL_VALIDATION_FAILED (an
 *   unknown field or argument, a variable used where its type does not fit: faults of the
 *   document rather than of the values in it).
 * - graphql-js coercion of variables (`Variable "$input" got invalid value "x" at
 *   "input.config.cpus"; Float cannot represent…`), in {@link maskBosunError}.
 */
import {
  GraphQLError,
  Kind,
  ProvidedRequiredArgumentsRule,
  ValuesOfCorrectTypeRule,
  validate,
  type ASTNode,
  type DocumentNode,
  type GraphQLSchema,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { maskError as yogaMaskError, type Plugin } from 'graphql-yoga';
import { isBosunError, type BosunError } from '../errors.js';

/**
 * Whether `error` is a GraphQLError. By name, as envelop and yoga check: a process can hold two
 * copies of graphql (its CJS and ESM builds, e.g. under vitest), whose classes differ.
 */
export function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof Error && error.name === 'GraphQLError';
}

/** The BosunError behind `error`, following GraphQLError.originalError links. */
export function findBosunError(error: unknown): BosunError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth += 1) {
    if (isBosunError(current)) return current;
    current = isGraphQLError(current) ? current.originalError : undefined;
  }
  return undefined;
}

/** An HTTP status (and headers) for a request refused before execution; yoga leaves it out of what it sends. */
export interface HttpRefusal {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * A client-facing GraphQLError for `error`, keeping the location and path of `located`. With
 * `http`, an HTTP response made of this error gets that status (yoga reads
 * `extensions.http`); errors of resolvers have none, and their response stays 200.
 */
export function toGraphQLError(error: BosunError, located?: GraphQLError, http?: HttpRefusal): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: located?.nodes,
    source: located?.source,
    positions: located?.positions,
    path: located?.path,
    extensions: {
      code: error.code,
      ...(error.field === undefined ? {} : { field: error.field }),
      ...(http === undefined ? {} : { http }),
    },
  });
}

/** `Variable "$name" …`: graphql-js refusing the value of a variable before execution. */
const VARIABLE_ERROR = /^Variable "\$([^"]+)" /;
/** The path inside the variable that graphql-js names: `… at "input.config.cpus"; …`. */
const VARIABLE_PATH = /^Variable "\$[^"]+" got invalid value .*? at "([^"]+)";/s;

/**
 * The BAD_USER_INPUT error for a graphql-js error about a variable's value, or undefined when
 * `error` is not one.
 */
export function variableValueError(error: GraphQLError): GraphQLError | undefined {
  // Found before execution: no path; not coded by anyone yet.
  if (error.path !== undefined || error.extensions['code'] !== undefined) return undefined;
  const variable = VARIABLE_ERROR.exec(error.message);
  if (!variable) return undefined;
  const at = VARIABLE_PATH.exec(error.message)?.[1] ?? variable[1];
  // A missing or unknown input field is named after the path of the object that should hold it.
  const inner = /; Field "([^"]+)" (?:of required type|is not defined by type)/.exec(error.message)?.[1];
  const field = inner === undefined ? at : `${at}.${inner}`;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    extensions: { ...error.extensions, code: 'BAD_USER_INPUT', field },
  });
}

/** Yoga's `maskError` with BosunErrors mapped to their codes. */
export function maskBosunError(error: unknown, message: string, isDev?: boolean): Error {
  const bosunError = findBosunError(error);
  if (bosunError) return toGraphQLError(bosunError, isGraphQLError(error) ? error : undefined);
  if (isGraphQLError(error)) {
    const coded = variableValueError(error);
    if (coded) return coded;
  }
  return yogaMaskError(error, message, isDev);
}

/** The graphql-js rules whose errors are about argument values. */
const ARGUMENT_VALUE_RULES = [ValuesOfCorrectTypeRule, ProvidedRequiredArgumentsRule];

/** A message without graphql-js's suggestions (which armor may have masked). */
const withoutSuggestions = (message: string): string => message.replace(/\s*(Did you mean .*|\[Suggestion hidden\])$/s, '');

/**
 * `errors` (from validating `document`) with those about argument values coded BAD_USER_INPUT
 * and prefixed with the argument's path. The others are returned as they are.
 */
export function withArgumentErrorCodes(
  schema: GraphQLSchema,
  document: DocumentNode,
  errors: readonly GraphQLError[],
  done: WeakSet<GraphQLError> = new WeakSet(),
): GraphQLError[] {
  if (errors.every((error) => done.has(error))) return [...errors];
  // Running the rules again tells which errors are theirs, without reading messages.
  const argumentErrors = validate(schema, document, ARGUMENT_VALUE_RULES);
  return errors.map((error) => {
    if (done.has(error)) return error;
    const node = error.nodes?.[0];
    const fromRule = argumentErrors.some(
      (found) => found.nodes?.[0] === node && withoutSuggestions(found.message) === withoutSuggestions(error.message),
    );
    if (!node || !fromRule) return error;
    // A missing required argument is reported on its field, and the message names the argument.
    const missing = node.kind === Kind.FIELD;
    const field = missing ? missingArgument(error.message) : argumentPath(document, node);
    const coded = new GraphQLError(missing || field === undefined ? error.message : `${field}: ${error.message}`, {
      nodes: error.nodes,
      source: error.source,
      positions: error.positions,
      extensions: { ...error.extensions, code: 'BAD_USER_INPUT', ...(field === undefined ? {} : { field }) },
    });
    done.add(coded);
    return coded;
  });
}

/** The yoga plugin that applies {@link withArgumentErrorCodes} to every validation result. */
export function useArgumentErrorCodes(): Plugin {
  // Yoga caches validation results by document: a cached result has been coded already.
  const done = new WeakSet<GraphQLError>();
  return {
    onValidate({ params }) {
      return ({ valid, result, setResult }) => {
        const errors: readonly unknown[] = result;
        if (valid || errors.length === 0 || !errors.every(isGraphQLError)) return;
        // Envelop types these `any`, to fit every graphql version; yoga runs on graphql-js 16.
        const { schema, documentAST } = params as { readonly schema: GraphQLSchema; readonly documentAST: DocumentNode };
        setResult(withArgumentErrorCodes(schema, documentAST, errors, done));
      };
    },
  };
}

/** `Field "x" argument "value" of type "Int!" is required, …` → `value`. */
function missingArgument(message: string): string | undefined {
  return /argument "([^"]+)" of type/.exec(message)?.[1];
}

/**
 * The path of the value `target` inside the argument (or variable default) that holds it:
 * `input.config.steps[2]`, `value`, `$input`. Undefined when it is not in the document.
 */
export function argumentPath(document: DocumentNode, target: ASTNode): string | undefined {
  const inValue = (value: ValueNode, path: string): string | undefined => {
    if (value === target) return path;
    if (value.kind === Kind.OBJECT) {
      for (const field of value.fields) {
        // An unknown input field is reported on its field node rather than its value.
        if ((field as ASTNode) === target) return `${path}.${field.name.value}`;
        const found = inValue(field.value, `${path}.${field.name.value}`);
        if (found !== undefined) return found;
      }
    } else if (value.kind === Kind.LIST) {
      for (const [index, item] of value.values.entries()) {
        const found = inValue(item, `${path}[${index}]`);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  };
  const inArguments = (args: readonly { name: { value: string }; value: ValueNode }[] | undefined): string | undefined => {
    for (const argument of args ?? []) {
      const found = inValue(argument.value, argument.name.value);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  const inSelections = (set: SelectionSetNode | undefined): string | undefined => {
    for (const selection of set?.selections ?? []) {
      const found =
        inArguments(selection.directives?.flatMap((directive) => directive.arguments ?? [])) ??
        (selection.kind === Kind.FIELD ? inArguments(selection.arguments) : undefined) ??
        ('selectionSet' in selection ? inSelections(selection.selectionSet) : undefined);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION) {
      for (const variable of definition.variableDefinitions ?? []) {
        if (variable.defaultValue) {
          const found = inValue(variable.defaultValue, `$${variable.variable.name.value}`);
          if (found !== undefined) return found;
        }
      }
    }
    if (definition.kind === Kind.OPERATION_DEFINITION || definition.kind === Kind.FRAGMENT_DEFINITION) {
      const found = inSelections(definition.selectionSet);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/**
 * A result error as graphql-ws sends it: its JSON without yoga's internal `http` and
 * `unexpected` extensions (which yoga also leaves out of HTTP responses).
 */
export function publicErrorJson(error: GraphQLError): ReturnType<GraphQLError['toJSON']> {
  const json = error.toJSON();
  if (!json.extensions) return json;
  const { http: _http, unexpected: _unexpected, ...extensions } = json.extensions as Record<string, unknown>;
  const { extensions: _all, ...rest } = json;
  return Object.keys(extensions).length > 0 ? { ...rest, extensions } : rest;
}
