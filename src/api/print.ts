/**
 * The schema's SDL as committed in schema.graphql: types sorted by name (lexicographicSortSchema),
 * so the file does not change when registration order does.
 */
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema } from './build-schema.js';

/** Prints `schema` (default: a freshly built one) sorted, with one trailing newline. */
export function printBosunSchema(schema: GraphQLSchema = buildSchema()): string {
  return `${printSchema(lexicographicSortSchema(schema)).trimEnd()}\n`;
}
