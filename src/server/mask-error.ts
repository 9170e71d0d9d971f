/**
 * The one place where errors become what clients see. Plugged into yoga as
 * `maskedErrors.maskError`, it runs for every result over HTTP, SSE and graphql-ws (the latter
 * through yoga's enveloped execute/subscribe): an error caused by a BosunError becomes a
 * GraphQLError with `extensions.code` = its code (and `extensions.field` when it names one);
 * anything else goes to yoga's masking ("Unexpected error.").
 */
import { GraphQLError } from 'graphql';
import { maskError as yogaMaskError } from 'graphql-yoga';
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

/** A client-facing GraphQLError for `error`, keeping the location and path of `located`. */
export function toGraphQLError(error: BosunError, located?: GraphQLError): GraphQLError {
  return new GraphQLError(error.message, {
    nodes: located?.nodes,
    source: located?.source,
    positions: located?.positions,
    path: located?.path,
    extensions: { code: error.code, ...(error.field === undefined ? {} : { field: error.field }) },
  });
}

/** Yoga's `maskError` with BosunErrors mapped to their codes. */
export function maskBosunError(error: unknown, message: string, isDev?: boolean): Error {
  const bosunError = findBosunError(error);
  if (bosunError) return toGraphQLError(bosunError, isGraphQLError(error) ? error : undefined);
  return yogaMaskError(error, message, isDev);
}
