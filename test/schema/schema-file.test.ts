/**
 * schema.graphql (committed) must be the schema the code builds.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildSchema } from '../../src/api/build-schema.js';
import * as graphql from 'graphql';

const { buildASTSchema, lexicographicSortSchema, parse, printSchema } = graphql;

describe('schema.graphql', () => {
  it('matches the built schema', () => {
    const file = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');
    const normalise = (schema: Parameters<typeof printSchema>[0]): string => printSchema(lexicographicSortSchema(schema));
    const built = normalise(buildSchema());
    const committed = normalise(buildASTSchema(parse(file)));
    expect(committed, 'schema.graphql is out of date: run `npm run print-schema` and commit schema.graphql').toBe(built);
  });
});
