/**
 * Syntax errors coded the same on every transport. Yoga codes a parse error
 * (`GRAPHQL_PARSE_FAILED`, HTTP 400) only for HTTP requests, by changing the error after parsing;
 * and its parse cache keeps the error per document. An operation over graphql-ws parses without
 * a request, so the error it cached had no code and no status, and every later HTTP request with
 * the same document got that error from the cache: HTTP 200 with no code.
 *
 * This plugin replaces every parse error, whoever parses, with a coded copy before the cache
 * (which comes after every plugin of ours) stores it: `extensions.code` GRAPHQL_PARSE_FAILED, and
 * HTTP 400 marked as the GraphQL-over-HTTP spec's (`spec`: yoga answers 400 to clients that
 * accept `application/graphql-response+json`, and 200 to those that accept only
 * `application/json`, as that spec says). graphql-ws leaves `http` out of what it sends.
 */
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isGraphQLError } from './mask-error.js';

/** The code of a document that does not parse (yoga's, and Apollo Server's). */
export const PARSE_FAILED = 'GRAPHQL_PARSE_FAILED';

/** `error` with the parse failure's code and HTTP status; an error that has a code keeps it. */
export function codedParseError(error: GraphQLError): GraphQLError {
  if (error.extensions['code'] !== undefined) return error;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    originalError: error.originalError,
    extensions: { ...error.extensions, code: PARSE_FAILED, http: { status: 400, spec: true } },
  });
}

/** The envelop plugin. */
export function useParseErrorCodes(): Plugin {
  return {
    onParse() {
      return ({ result, replaceParseResult }) => {
        if (isGraphQLError(result)) replaceParseResult(codedParseError(result));
      };
    },
  };
}
