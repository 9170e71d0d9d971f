/**
 * `DateTime`: graphql-scalars' RFC 3339 date-time (its `DateTimeISO`, which serializes to a
 * string: `toISOString()`, UTC with milliseconds, the form bosun has always sent), under the
 * name bosun's schema has always used, with:
 * - `@specifiedBy` the date-time scalar spec at scalars.graphql.org, which that form follows, so
 *   that tools and people know what the string holds;
 * - the GraphQL Code Generator hint `extensions.codegenScalarType` = `string`: what a client
 *   receives and sends. graphql-scalars' own hint (`Date | string`) is for servers whose
 *   resolvers may return either; a client gets the JSON string. Codegen reads the hint from a
 *   schema object; from schema.graphql, which cannot carry extensions, `scalars: { DateTime:
 *   'string' }` in its config says the same (see the README).
 */
import { GraphQLScalarType } from 'graphql';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { BosunBuilder } from './builder.js';

const require = createRequire(import.meta.url);

/**
 * graphql-scalars' `GraphQLDateTimeISO`, from its own file. The package's entry builds all of its
 * 80-odd scalars as it loads (84 modules, about 2 MB of a fresh bosun's idle RSS;
 * bench/results/2026-11-30-idle-profile.md), counting on a bundler to drop the ones not imported,
 * and its exports map offers only that entry. So the one file is required by its path in the
 * CommonJS build beside the entry (graphql-scalars is pinned; test/api/date-time.test.ts checks
 * that it is the entry's scalar, and a move of the file fails every start and test at once).
 */
export function loadDateTimeISO(): GraphQLScalarType {
  const entry = require.resolve('graphql-scalars');
  const file = join(dirname(entry), 'scalars', 'iso-date', 'DateTimeISO.js');
  return (require(file) as { GraphQLDateTimeISO: GraphQLScalarType }).GraphQLDateTimeISO;
}

/** The specification `DateTime` follows (RFC 3339 date-time with an offset; bosun sends `Z`). */
export const DATE_TIME_SPECIFIED_BY = 'https://scalars.graphql.org/andimarek/date-time.html';

/** What a GraphQL client's generated types should call a DateTime. */
export const DATE_TIME_CODEGEN_TYPE = 'string';

/** The scalar, as bosun's schema names and describes it. */
export function createDateTimeScalar(): GraphQLScalarType {
  const config = loadDateTimeISO().toConfig();
  return new GraphQLScalarType({
    ...config,
    name: 'DateTime',
    description:
      'An instant as an RFC 3339 date-time string in UTC with milliseconds, e.g. 2025-01-31T12:00:00.000Z ' +
      '(input: any RFC 3339 date-time with an offset).',
    specifiedByURL: DATE_TIME_SPECIFIED_BY,
    extensions: { ...config.extensions, codegenScalarType: DATE_TIME_CODEGEN_TYPE },
  });
}

export function addDateTimeScalar(builder: BosunBuilder): void {
  builder.addScalarType('DateTime', createDateTimeScalar());
}
