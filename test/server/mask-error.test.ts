/**
 * What clients see of errors (src/server/mask-error.ts): BosunErrors keep their code (and field),
 * anything unexpected is masked, and every error about an argument's value is BAD_USER_INPUT
 * with the argument's path, whether graphql-js finds it in a literal, in a variable, or a
 * resolver does. Against the real schema, without a server (yoga runs in memory at the end).
 */
import { describe, expect, it } from 'vitest';
import * as graphql from 'graphql';
import { createYoga } from 'graphql-yoga';
import { buildSchema } from '../../src/api/build-schema.js';
import { StreamRegistry } from '../../src/api/streams/stream-registry.js';
import { BOSUN_ERROR_CODES, BosunError } from '../../src/errors.js';
import {
  argumentPath,
  findBosunError,
  isGraphQLError,
  maskBosunError,
  publicErrorJson,
  toGraphQLError,
  useArgumentErrorCodes,
  variableValueError,
  withArgumentErrorCodes,
} from '../../src/server/mask-error.js';
import { createFakeServices } from '../helpers/fake-services.js';

const { GraphQLError, Kind, locatedError, parse, validate, visit } = graphql;
type GraphQLError = graphql.GraphQLError;

const schema = buildSchema();
const UNEXPECTED = 'Unexpected error.';

/** The document's validation errors after {@link withArgumentErrorCodes}. */
function validated(source: string): GraphQLError[] {
  const document = parse(source);
  return withArgumentErrorCodes(schema, document, validate(schema, document));
}

/** What a client would read of an error: its message and extensions. */
function seen(error: GraphQLError): { message: string; extensions: Record<string, unknown> } {
  return { message: error.message, extensions: { ...error.extensions } };
}

/** The errors graphql-js reports for `variables` before executing `source` (it coerces them first). */
async function variableErrors(source: string, variables: Record<string, unknown>): Promise<readonly GraphQLError[]> {
  const result = await graphql.graphql({ schema, source, variableValues: variables, contextValue: {} });
  expect(result.data, 'nothing executes').toBeUndefined();
  return result.errors ?? [];
}

/** A resolver's error as graphql-js hands it to masking: located at a field, the cause inside. */
function fromResolver(cause: unknown): GraphQLError {
  const document = parse('{ agentRun(id: "r") { id } }');
  let field: graphql.FieldNode | undefined;
  visit(document, {
    Field(node) {
      field ??= node;
    },
  });
  return locatedError(cause, field ? [field] : undefined, ['agentRun']);
}

describe('BosunErrors become coded GraphQL errors', () => {
  it.each(BOSUN_ERROR_CODES.map((code) => [code]))('%s: extensions.code is the code, the message is kept', (code) => {
    const masked = maskBosunError(fromResolver(new BosunError(code, `it was ${code}`)), UNEXPECTED, false);
    expect(seen(masked as GraphQLError)).toEqual({ message: `it was ${code}`, extensions: { code } });
  });

  it('names the field at fault in extensions.field, and keeps where the error happened', () => {
    const error = fromResolver(new BosunError('BAD_USER_INPUT', 'config.memory: expected a size', { field: 'config.memory' }));
    const masked = maskBosunError(error, UNEXPECTED, false) as GraphQLError;
    expect(seen(masked)).toEqual({
      message: 'config.memory: expected a size',
      extensions: { code: 'BAD_USER_INPUT', field: 'config.memory' },
    });
    expect(masked.path).toEqual(['agentRun']);
    expect(masked.locations).toEqual([{ line: 1, column: 3 }]);
  });

  it('finds a BosunError wrapped in GraphQL errors, and nothing in other errors', () => {
    const bosun = new BosunError('NOT_FOUND', 'no such run');
    const wrapped = new GraphQLError('outer', { originalError: new GraphQLError('inner', { originalError: bosun }) });
    expect(findBosunError(wrapped)).toBe(bosun);
    expect(seen(maskBosunError(wrapped, UNEXPECTED, false) as GraphQLError)).toEqual({
      message: 'no such run',
      extensions: { code: 'NOT_FOUND' },
    });
    expect(findBosunError(new Error('plain', { cause: bosun }))).toBeUndefined();
    expect(findBosunError(undefined)).toBeUndefined();
  });

  it('gives a refusal made before execution an HTTP status for yoga to send', () => {
    const refusal = toGraphQLError(new BosunError('FORBIDDEN', 'read token'), undefined, { status: 403 });
    expect(seen(refusal)).toEqual({ message: 'read token', extensions: { code: 'FORBIDDEN', http: { status: 403 } } });
    expect(refusal.path).toBeUndefined();
  });

  it('tells GraphQL errors by name, as a second copy of graphql makes them', () => {
    expect(isGraphQLError(new GraphQLError('x'))).toBe(true);
    expect(isGraphQLError(Object.assign(new Error('x'), { name: 'GraphQLError' }))).toBe(true);
    expect(isGraphQLError(new Error('x'))).toBe(false);
    expect(isGraphQLError({ name: 'GraphQLError', message: 'x' })).toBe(false);
  });
});

describe('unexpected errors are masked', () => {
  it('hides the message of an error that is not a BosunError', () => {
    const masked = maskBosunError(fromResolver(new Error('SQLITE_CORRUPT at /var/lib/bosun/db')), UNEXPECTED, false) as GraphQLError;
    expect(masked.message).toBe(UNEXPECTED);
    expect(masked.extensions['code']).toBe('INTERNAL_SERVER_ERROR');
    expect(JSON.stringify(masked)).not.toContain('SQLITE_CORRUPT');
    expect(masked.path).toEqual(['agentRun']);
  });

  it('hides thrown values that are not errors', () => {
    const masked = maskBosunError('a string', UNEXPECTED, false) as GraphQLError;
    expect(masked.message).toBe(UNEXPECTED);
    expect(JSON.stringify(masked)).not.toContain('a string');
  });

  it("leaves graphql-js's own errors (those with no cause) as they are", () => {
    const own = new GraphQLError('Cannot query field "nope" on type "Query".');
    expect(maskBosunError(own, UNEXPECTED, false)).toBe(own);
  });
});

describe("graphql-js errors about a variable's value are BAD_USER_INPUT", () => {
  const START = 'mutation ($input: StartAgentInput!) { startAgent(input: $input) { agentId } }';
  const group = { id: 'g', name: 'g' };

  it.each([
    ['a scalar variable', 'mutation ($v: Int!) { setMaxConcurrency(value: $v) { running } }', { v: 'x' }, 'v'],
    ['a missing required variable', 'mutation ($v: Int!) { setMaxConcurrency(value: $v) { running } }', {}, 'v'],
    ['a value deep in an input', START, { input: { group, config: { cpus: 'x' } } }, 'input.config.cpus'],
    ['an item of a list', START, { input: { group, config: { steps: ['a', 2] } } }, 'input.config.steps[1]'],
    ['a missing input field', START, { input: { group: { id: 'g' }, config: {} } }, 'input.group.name'],
    ['an unknown input field', START, { input: { group, config: { nope: 1 } } }, 'input.config.nope'],
    ['an unknown enum value', 'query ($s: [AgentStatus!]) { agentRuns(status: $s) { id } }', { s: ['NOPE'] }, 's[0]'],
  ])('%s', async (_case, source, variables, field) => {
    const [error, ...rest] = await variableErrors(source, variables);
    expect(rest).toEqual([]);
    expect(error?.message).toMatch(/^Variable "\$\w+" /);
    const coded = variableValueError(error as GraphQLError);
    expect(coded?.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
    expect(coded?.message).toBe(error?.message);
    expect(coded?.locations).toEqual(error?.locations);
    // maskBosunError applies it: yoga hands it every error of a result.
    expect(seen(maskBosunError(error, UNEXPECTED, false) as GraphQLError)).toEqual(seen(coded as GraphQLError));
  });

  it('leaves other errors alone: not about a variable, already coded, or raised during execution', () => {
    expect(variableValueError(new GraphQLError('Syntax Error: Unexpected "}".'))).toBeUndefined();
    expect(variableValueError(new GraphQLError('Variable "$v" got invalid value 1', { extensions: { code: 'X' } }))).toBeUndefined();
    expect(variableValueError(new GraphQLError('Variable "$v" got invalid value 1', { path: ['agentRun'] }))).toBeUndefined();
  });
});

describe('graphql-js errors about a literal argument value are BAD_USER_INPUT, prefixed with its path', () => {
  it.each([
    ['an argument', '{ agentRuns(limit: "ten") { id } }', 'limit'],
    [
      'a value deep in an input',
      'mutation { startAgent(input: { group: { id: "g", name: "g" }, config: { cpus: "x" } }) { agentId } }',
      'input.config.cpus',
    ],
    [
      'an item of a list',
      'mutation { startAgent(input: { group: { id: "g", name: "g" }, config: { steps: ["a", "b", 3] } }) { agentId } }',
      'input.config.steps[2]',
    ],
    [
      'an unknown input field',
      'mutation { startAgent(input: { group: { id: "g", name: "g" }, config: { nope: 1 } }) { agentId } }',
      'input.config.nope',
    ],
    ['an object missing a field', 'mutation { startAgent(input: { group: { id: "g" }, config: {} }) { agentId } }', 'input.group'],
    ['an unknown enum value', '{ agentRuns(status: [QUEUED, NOPE]) { id } }', 'status[1]'],
    ['an argument in a fragment', 'query { ...F } fragment F on Query { agentRuns(limit: true) { id } }', 'limit'],
    ['a directive argument', '{ queueStatus @include(if: "yes") { running } }', 'if'],
    ['the default of a variable', 'query ($n: Int = "x") { agentRuns(limit: $n) { id } }', '$n'],
  ])('%s', (_case, source, field) => {
    const document = parse(source);
    const [original, ...others] = validate(schema, document);
    expect(others).toEqual([]);
    const [coded] = withArgumentErrorCodes(schema, document, [original as GraphQLError]);
    expect(coded?.extensions).toEqual({ code: 'BAD_USER_INPUT', field });
    expect(coded?.message).toBe(`${field}: ${original?.message}`);
    expect(coded?.locations).toEqual(original?.locations);
  });

  it('names a missing required argument in extensions.field, keeping the message that names it', () => {
    const [error] = validated('{ agentRun { id } }');
    expect(seen(error as GraphQLError)).toEqual({
      message: 'Field "agentRun" argument "id" of type "ID!" is required, but it was not provided.',
      extensions: { code: 'BAD_USER_INPUT', field: 'id' },
    });
  });

  it('codes an error whose suggestions graphql-armor hid', () => {
    const document = parse('{ agentRuns(status: [QUEUD]) { id } }');
    const [original] = validate(schema, document);
    expect(original?.message).toMatch(/Did you mean/);
    const hidden = new GraphQLError((original as GraphQLError).message.replace(/Did you mean .*$/s, '[Suggestion hidden]'), {
      nodes: original?.nodes,
    });
    const [coded] = withArgumentErrorCodes(schema, document, [hidden]);
    expect(coded?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'status[0]' });
  });

  it('leaves faults of the document itself to GRAPHQL_VALIDATION_FAILED', () => {
    for (const source of ['{ nope }', '{ agentRuns(nope: 1) { id } }', 'query ($n: String) { agentRuns(limit: $n) { id } }']) {
      const document = parse(source);
      const errors = validate(schema, document);
      expect(errors.length, source).toBeGreaterThan(0);
      expect(withArgumentErrorCodes(schema, document, errors), source).toEqual(errors);
    }
  });

  it('codes each error once when the same results come back (yoga caches validation)', () => {
    const document = parse('{ agentRuns(limit: "ten") { id } }');
    const done = new WeakSet<GraphQLError>();
    const once = withArgumentErrorCodes(schema, document, validate(schema, document), done);
    const again = withArgumentErrorCodes(schema, document, once, done);
    expect(again).toEqual(once);
    expect(again[0]?.message).toMatch(/^limit: Int cannot represent/);
  });

  it('finds no path for a node outside the document', () => {
    const document = parse('{ agentRuns(limit: 1) { id } }');
    expect(argumentPath(document, { kind: Kind.INT, value: '1' })).toBeUndefined();
  });
});

describe('errors as graphql-ws sends them', () => {
  it("leave out yoga's internal http and unexpected extensions", () => {
    const error = new GraphQLError('x', { extensions: { code: 'FORBIDDEN', http: { status: 403 }, unexpected: true } });
    expect(publicErrorJson(error)).toEqual({ message: 'x', extensions: { code: 'FORBIDDEN' } });
    const internalOnly = new GraphQLError('y', { extensions: { http: { status: 401 } } });
    expect(publicErrorJson(internalOnly)).toEqual({ message: 'y' });
  });
});

describe('in yoga, as the server plugs them in', () => {
  const services = createFakeServices();
  const yoga = createYoga({
    schema,
    context: () => ({ services, streams: new StreamRegistry() }),
    maskedErrors: { maskError: maskBosunError },
    plugins: [useArgumentErrorCodes()],
    logging: false,
  });

  async function post(
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<{ errors?: { message: string; extensions?: Record<string, unknown> }[] }> {
    const response = await yoga.fetch('http://bosun.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { errors?: { message: string; extensions?: Record<string, unknown> }[] };
  }

  it('codes literal, variable and resolver argument errors alike, and the cached document the same way twice', async () => {
    const literal = '{ agentRuns(limit: "ten") { id } }';
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const { errors } = await post(literal);
      expect(errors?.[0]?.message).toBe('limit: Int cannot represent non-integer value: "ten"');
      expect(errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'limit' });
    }
    const variable = await post('query ($n: Int) { agentRuns(limit: $n) { id } }', { n: 'ten' });
    expect(variable.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'n' });
    const resolver = await post('{ agentRuns(limit: 0) { id } }');
    expect(resolver.errors?.[0]).toMatchObject({
      message: 'limit: expected an integer from 1 to 500, got 0',
      extensions: { code: 'BAD_USER_INPUT', field: 'limit' },
    });
  });

  it('masks an unexpected failure of a service', async () => {
    services.runs.failNext('get', new Error('disk on fire'));
    const { errors } = await post('{ agentRun(id: "r") { id } }');
    expect(errors?.[0]?.message).toBe(UNEXPECTED);
    expect(JSON.stringify(errors)).not.toContain('disk on fire');
  });
});
