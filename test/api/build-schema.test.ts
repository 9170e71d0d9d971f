/**
 * The built schema describes itself: every type, field, argument, input field and enum value
 * has a description, so that GraphiQL, codegen'd types and schema.graphql explain every part.
 * The test lists every missing one at once.
 */
import { describe, expect, it } from 'vitest';
import * as graphql from 'graphql';
import { buildSchema } from '../../src/api/build-schema.js';

const { isEnumType, isInputObjectType, isInterfaceType, isObjectType } = graphql;

/** The schema coordinates (`Type.field(arg:)`, `Enum.VALUE`) of everything without a description. */
function undescribed(schema: graphql.GraphQLSchema): string[] {
  const missing: string[] = [];
  const check = (coordinate: string, description: string | null | undefined): void => {
    if (!description?.trim()) missing.push(coordinate);
  };
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__')) continue;
    check(type.name, type.description);
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        check(`${type.name}.${field.name}`, field.description);
        for (const arg of field.args) check(`${type.name}.${field.name}(${arg.name}:)`, arg.description);
      }
    } else if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) check(`${type.name}.${field.name}`, field.description);
    } else if (isEnumType(type)) {
      for (const value of type.getValues()) check(`${type.name}.${value.name}`, value.description);
    }
  }
  for (const directive of schema.getDirectives()) {
    check(`@${directive.name}`, directive.description);
    for (const arg of directive.args) check(`@${directive.name}(${arg.name}:)`, arg.description);
  }
  return missing.sort();
}

describe('the schema', () => {
  it('describes every type, field, argument, input field and enum value', () => {
    expect(undescribed(buildSchema()), 'add a description to each of these').toEqual([]);
  });

  it('finds what lacks one (the check itself)', () => {
    const bare = graphql.buildSchema(`
      "described" type Query { "described" a(x: Int): E, "described" b: Int }
      enum E { "described" ONE TWO }
    `);
    expect(undescribed(bare)).toEqual(['E', 'E.TWO', 'Query.a(x:)']);
  });
});
