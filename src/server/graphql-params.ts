/**
 * Requests whose GraphQL parameters cannot be read, answered with HTTP 400 `BAD_REQUEST` and
 * nothing of bosun's internals:
 * - parameters that are not JSON: yoga reads `variables` and `extensions` of a GET query string
 *   (and of a form-encoded POST) with JSON.parse and lets its SyntaxError through as an
 *   unexpected error (HTTP 500 "Unexpected error." for what is the client's mistake); this
 *   plugin names the parameter instead;
 * - a body that is not JSON, or not a GraphQL request: yoga answers 400 itself, but puts the
 *   parser's own error in `extensions.originalError` (its name and message, naming the JSON
 *   parser); this plugin keeps the message, `code` and `http` only.
 */
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isGraphQLError } from './mask-error.js';

/** The parameters that yoga parses as JSON. */
const JSON_PARAMETERS = ['variables', 'extensions'] as const;

/** The yoga plugin; it wraps whichever request parser yoga picked. */
export function useGraphQLParamErrors(): Plugin {
  return {
    onRequestParse({ requestParser, setRequestParser, url }) {
      if (requestParser === undefined) return;
      const parse = requestParser;
      setRequestParser(async (request) => {
        try {
          return await parse(request);
        } catch (error) {
          if (isGraphQLError(error)) throw withoutInternals(error);
          if (!(error instanceof SyntaxError)) throw error;
          throw badParameter(JSON_PARAMETERS.filter((name) => !isJson(url.searchParams.get(name))));
        }
      });
    },
  };
}

function isJson(value: string | null): boolean {
  if (value === null || value === '') return true;
  try {
    JSON.parse(value);
    return true;
  } catch {
    return false;
  }
}

function badParameter(names: readonly string[]): GraphQLError {
  const which = names.length === 1 ? `The "${names[0]}" parameter is` : 'The "variables" or "extensions" parameter is';
  return new GraphQLError(`${which} not valid JSON`, { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
}

/**
 * A request parser's refusal with only what a client reads: the message, `code`, and the HTTP
 * status (yoga's `http`, which it leaves out of the body). The status holds whatever the client
 * accepts: yoga marks it as the GraphQL-over-HTTP spec's (`spec`), which answers 200 to a client
 * that accepts only `application/json`; but that rule is for well-formed requests with GraphQL
 * errors, and a body that cannot be read is not one (the spec's 400).
 */
export function withoutInternals(error: GraphQLError): GraphQLError {
  const { code, http } = error.extensions;
  return new GraphQLError(error.message, {
    extensions: {
      ...(code === undefined ? {} : { code }),
      ...(http?.status === undefined ? {} : { http: { status: http.status, ...(http.headers ? { headers: http.headers } : {}) } }),
    },
  });
}
