import { describe, expect, it } from 'vitest';
import { GraphQLScalarType, graphql, printSchema } from 'graphql';
import { DATE_TIME_SPECIFIED_BY, createDateTimeScalar, loadDateTimeISO } from '../../src/api/date-time.js';
import { buildSchema } from '../../src/api/build-schema.js';

const scalar = createDateTimeScalar();

describe('DateTime', () => {
  it('serializes instants as the same ISO-8601 UTC strings as before graphql-scalars', () => {
    expect(scalar.serialize(new Date('2025-01-31T13:00:00+01:00'))).toBe('2025-01-31T12:00:00.000Z');
    expect(scalar.serialize(new Date(0))).toBe('1970-01-01T00:00:00.000Z');
    expect(scalar.serialize('2025-01-31T13:00:00.5+01:00')).toBe('2025-01-31T12:00:00.500Z');
    expect(() => scalar.serialize(new Date('nope'))).toThrow();
    expect(() => scalar.serialize({})).toThrow();
  });

  it('parses RFC 3339 date-times with an offset', () => {
    expect((scalar.parseValue('2025-01-31T12:00:00Z') as Date).toISOString()).toBe('2025-01-31T12:00:00.000Z');
    expect((scalar.parseValue('2025-01-31T13:00:00.5+01:00') as Date).toISOString()).toBe('2025-01-31T12:00:00.500Z');
  });

  it.each(['2025-01-31T12:00:00', 'yesterday', '2025-13-40T99:00:00Z'])('refuses %s', (value) => {
    expect(() => scalar.parseValue(value)).toThrow();
  });

  it('is specified by the date-time scalar spec and hints `string` to GraphQL Code Generator', () => {
    const schema = buildSchema();
    const built = schema.getType('DateTime');
    expect(built).toMatchObject({ specifiedByURL: DATE_TIME_SPECIFIED_BY, extensions: { codegenScalarType: 'string' } });
    expect(printSchema(schema)).toContain(`scalar DateTime @specifiedBy(url: "${DATE_TIME_SPECIFIED_BY}")`);
  });

  it('reaches clients as the same string through the schema', async () => {
    const schema = buildSchema();
    const at = new Date('2025-01-31T12:34:56.789Z');
    const result = await graphql({
      schema,
      source: '{ healthReport { generatedAt } }',
      contextValue: { services: { monitor: { generateReport: () => ({ generatedAt: at }) } } },
    });
    expect(result).toEqual({ data: { healthReport: { generatedAt: '2025-01-31T12:34:56.789Z' } } });
  });
});

describe('loadDateTimeISO', () => {
  it("is graphql-scalars' own DateTimeISO, loaded without the package's entry", async () => {
    const { GraphQLDateTimeISO } = await import('graphql-scalars');
    const alone = loadDateTimeISO();
    expect(alone).toBeInstanceOf(GraphQLScalarType);
    const { serialize, parseValue, parseLiteral, ...config } = alone.toConfig();
    const { serialize: entrySerialize, parseValue: entryParseValue, parseLiteral: entryParseLiteral, ...entryConfig } = GraphQLDateTimeISO.toConfig();
    expect(config).toEqual(entryConfig);
    for (const value of [new Date(0), '2025-01-31T13:00:00.5+01:00']) expect(serialize(value)).toEqual(entrySerialize(value));
    expect(parseValue('2025-01-31T12:00:00Z')).toEqual(entryParseValue('2025-01-31T12:00:00Z'));
    expect(parseLiteral).toBeTypeOf('function');
    expect(entryParseLiteral).toBeTypeOf('function');
  });
});
