/**
 * The built schema keeps the agreed contract (test/schema/contract.graphql): every type, field,
 * argument and enum value, with the same types. Additions are allowed when they cannot break a
 * client: new output fields, new nullable arguments and input fields.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildSchema } from '../../src/api/build-schema.js';
import * as graphql from 'graphql';

const { buildASTSchema, isEnumType, isInputObjectType, isNonNullType, isObjectType, isScalarType, parse } = graphql;

const contract = buildASTSchema(parse(readFileSync(new URL('./contract.graphql', import.meta.url), 'utf8')));
const schema = buildSchema();
const contractTypes = Object.values(contract.getTypeMap()).filter((type) => !type.name.startsWith('__'));

describe('the API contract', () => {
  it.each(contractTypes.map((type) => [type.name, type] as const))('keeps %s', (name, expected) => {
    const actual = schema.getType(name);
    expect(actual, `type ${name}`).toBeDefined();
    if (!actual) return;
    expect(actual.constructor.name).toBe(expected.constructor.name);

    if (isEnumType(expected) && isEnumType(actual)) {
      expect(
        actual
          .getValues()
          .map((value) => value.name)
          .sort(),
      ).toEqual(
        expected
          .getValues()
          .map((value) => value.name)
          .sort(),
      );
    }
    if (isScalarType(expected)) expect(isScalarType(actual)).toBe(true);

    if (isObjectType(expected) && isObjectType(actual)) {
      const actualFields = actual.getFields();
      for (const field of Object.values(expected.getFields())) {
        const got = actualFields[field.name];
        expect(got, `${name}.${field.name}`).toBeDefined();
        if (!got) continue;
        expect(String(got.type), `${name}.${field.name}`).toBe(String(field.type));
        const args = new Map(got.args.map((arg) => [arg.name, String(arg.type)]));
        for (const arg of field.args) expect(args.get(arg.name), `${name}.${field.name}(${arg.name})`).toBe(String(arg.type));
        const extraRequired = got.args.filter((arg) => !field.args.some((a) => a.name === arg.name) && isNonNullType(arg.type));
        expect(
          extraRequired.map((arg) => arg.name),
          `new required arguments of ${name}.${field.name}`,
        ).toEqual([]);
      }
    }

    if (isInputObjectType(expected) && isInputObjectType(actual)) {
      const expectedFields = expected.getFields();
      for (const field of Object.values(expectedFields)) {
        expect(String(actual.getFields()[field.name]?.type), `${name}.${field.name}`).toBe(String(field.type));
      }
      const extraRequired = Object.values(actual.getFields()).filter((field) => !expectedFields[field.name] && isNonNullType(field.type));
      expect(
        extraRequired.map((field) => field.name),
        `new required fields of ${name}`,
      ).toEqual([]);
    }
  });
});
