/**
 * GraphQL parameters that are not JSON. Yoga reads `variables` and `extensions` of a GET query
 * string (and of a form-encoded POST) with JSON.parse and let its SyntaxError through as an
 * unexpected error: HTTP 500 "Unexpected error." for what is the client's mistake. This plugin
 * answers it as yoga answers a POST body that is not JSON: HTTP 400, `BAD_REQUEST`, naming the
 * parameter and nothing of bosun's internals.
 */
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

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
