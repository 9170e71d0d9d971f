/**
 * Bad values for every argument of every operation in schema.graphql (startAgent's input has its
 * own file, against the real app): wrong types, empty strings, negative and huge numbers,
 * unknown enum values, 1 MB strings, NUL bytes, nulls for required arguments, missing ones.
 * Each is refused with `extensions.code` BAD_USER_INPUT and a message that names the argument
 * and says what was expected — as a variable (graphql-js coercion), as a literal (graphql-js
 * validation) and past both (bosun's own checks) alike. Nothing reaches the services.
 */
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRun } from '../helpers/fixtures.js';
import { post, startHardenedServer, wsClient, type GraphQLBody, type GraphQLErrorBody, type HardenedServer } from './hardened-server.js';

let test: HardenedServer;
let client: Client;

beforeAll(async () => {
  test = await startHardenedServer();
  test.services.runs.seed(makeRun({ id: 'r1', status: 'SUCCEEDED' }));
  client = wsClient(test.wsUrl).client;
});

afterAll(async () => {
  await client.dispose();
  await test.close();
});

const MB_STRING = 'x'.repeat(1_000_000);
const NUL = 'run\u0000id';

/** What a refusal must look like: the code, the argument named, an expectation stated. */
function expectRefused(errors: readonly GraphQLErrorBody[] | undefined, argument: string, label: string): void {
  expect(errors, `${label}: no errors`).toBeDefined();
  expect(errors!.length, label).toBeGreaterThan(0);
  for (const error of errors!) {
    expect(error.extensions?.code, `${label}: ${error.message}`).toBe('BAD_USER_INPUT');
    expect(error.message, label).toContain(argument);
    expect(error.message, label).toMatch(
      /expected|cannot represent|does not exist|required type|must not be null|not provided|is required|not defined by type/i,
    );
    expect(error.message.length, `${label}: the message repeats the value`).toBeLessThan(600);
  }
}

/** Runs an operation over graphql-ws; resolves with the errors it ended with (results' or the operation's). */
async function wsErrors(query: string, variables?: Record<string, unknown>): Promise<readonly GraphQLErrorBody[] | undefined> {
  const iterator = client.iterate({ query, ...(variables ? { variables } : {}) });
  try {
    const first = await iterator.next();
    return (first.value as GraphQLBody | undefined)?.errors;
  } catch (errors) {
    return errors as readonly GraphQLErrorBody[];
  } finally {
    await iterator.return?.();
  }
}

/** [label, argument the message must name, document, variables]. */
type Case = readonly [string, string, string, Record<string, unknown>?];

const INT_VALUES: readonly [string, unknown][] = [
  ['a string', 'ten'],
  ['a fraction', 1.5],
  ['a boolean', true],
  ['an object', { n: 1 }],
  ['2^31', 2 ** 31],
  ['1e20', 1e20],
];
const ID_VALUES: readonly [string, unknown][] = [
  ['an empty string', ''],
  ['a 1 MB string', MB_STRING],
  ['a NUL byte', NUL],
  ['a space', 'run 1'],
  ['a boolean', true],
  ['a fraction', 1.5],
  ['an object', { id: 'r1' }],
  ['a list', ['r1']],
];

/** For each variable-typed argument: every bad value, as a variable. */
function variableCases(argument: string, type: string, document: (variable: string) => string, values: readonly [string, unknown][]): Case[] {
  return values.map(
    ([label, value]) =>
      [
        `${argument} = ${label} (variable)`,
        argument,
        `query_PLACEHOLDER(${'$'}${argument}: ${type}) ${document(`$${argument}`)}`,
        { [argument]: value },
      ] as const,
  );
}

const queries: Case[] = [
  ...variableCases('id', 'ID!', (v) => `{ agentRun(id: ${v}) { id } }`, ID_VALUES),
  ['id = null (literal)', 'id', '{ agentRun(id: null) { id } }'],
  ['id missing', 'id', '{ agentRun { id } }'],
  ['id = "" (literal)', 'id', '{ agentRun(id: "") { id } }'],
  ['id = true (literal)', 'id', '{ agentRun(id: true) { id } }'],
  ...variableCases('limit', 'Int', (v) => `{ agentRuns(limit: ${v}) { id } }`, [...INT_VALUES, ['-1', -1], ['0', 0], ['501', 501]]),
  ['limit = -5 (literal)', 'limit', '{ agentRuns(limit: -5) { id } }'],
  ['limit = 99999999999 (literal)', 'limit', '{ agentRuns(limit: 99999999999) { id } }'],
  ['limit = "x" (literal)', 'limit', '{ agentRuns(limit: "x") { id } }'],
  ...variableCases('status', '[AgentStatus!]', (v) => `{ agentRuns(status: ${v}) { id } }`, [
    ['an unknown value', ['EXPLODED']],
    ['lower case', ['running']],
    ['a number', [1]],
    ['a null item', [null]],
    ['an empty string', ['']],
  ]),
  ['status = [EXPLODED] (literal)', 'status', '{ agentRuns(status: [EXPLODED]) { id } }'],
  ['status = "RUNNING" string (literal)', 'status', '{ agentRuns(status: "RUNNING") { id } }'],
  ...variableCases('afterSeq', 'Int', (v) => `{ agentRun(id: "r1") { logs(afterSeq: ${v}) { seq } } }`, [...INT_VALUES, ['-1', -1]]),
  ...variableCases('last', 'Int', (v) => `{ agentRun(id: "r1") { logs(last: ${v}) { seq } } }`, [...INT_VALUES, ['-1', -1]]),
  ['samples(last: -1) (literal)', 'last', '{ agentRun(id: "r1") { samples(last: -1) { at } } }'],
  ...variableCases('last', 'Int', (v) => `{ agentRun(id: "r1") { samples(last: ${v}) { at } } }`, [
    ['-1', -1],
    ['a string', 'all'],
  ]),
];

const rawMutations: Case[] = [
  ...variableCases('id', 'ID!', (v) => `{ cancelAgent(id: ${v}) { id } }`, ID_VALUES),
  ['cancelAgent id missing', 'id', 'mutation { cancelAgent { id } }'],
  ...variableCases('id', 'ID!', (v) => `{ retryAgent(id: ${v}) { agentId } }`, ID_VALUES),
  ['retryAgent id = null (literal)', 'id', 'mutation { retryAgent(id: null) { agentId } }'],
  ...variableCases('value', 'Int!', (v) => `{ setMaxConcurrency(value: ${v}) { maxConcurrency } }`, [
    ...INT_VALUES,
    ['-1', -1],
    ['10001', 10_001],
    ['null', null],
  ]),
  ['value missing', 'value', 'mutation { setMaxConcurrency { maxConcurrency } }'],
  ['value = -1 (literal)', 'value', 'mutation { setMaxConcurrency(value: -1) { maxConcurrency } }'],
  ['value = 1.5 (literal)', 'value', 'mutation { setMaxConcurrency(value: 1.5) { maxConcurrency } }'],
  ['value = "4" (literal)', 'value', 'mutation { setMaxConcurrency(value: "4") { maxConcurrency } }'],
  ['input missing', 'input', 'mutation { startAgent { agentId } }'],
  ['input = null (variable)', 'input', 'mutation ($input: StartAgentInput!) { startAgent(input: $input) { agentId } }', { input: null }],
  ['input = a string (variable)', 'input', 'mutation ($input: StartAgentInput!) { startAgent(input: $input) { agentId } }', { input: 'go' }],
  ['input.group missing (literal)', 'input', 'mutation { startAgent(input: { config: {} }) { agentId } }'],
  [
    'input.config.cpus = "1" (literal)',
    'input.config.cpus',
    'mutation { startAgent(input: { group: { id: "g", name: "n" }, config: { cpus: "1" } }) { agentId } }',
  ],
  [
    'input.config.bogus (literal)',
    'input.config.bogus',
    'mutation { startAgent(input: { group: { id: "g", name: "n" }, config: { bogus: 1 } }) { agentId } }',
  ],
];
const mutations: Case[] = rawMutations.map(
  ([label, argument, document, variables]) =>
    [label, argument, document.replace(/^\{/, 'mutation {').replace(/^query_PLACEHOLDER/, 'mutation '), variables] as const,
);

const rawSubscriptions: Case[] = [
  ...variableCases('agentId', 'ID!', (v) => `{ queuePositionChanged(agentId: ${v}) { position } }`, ID_VALUES),
  ['queuePositionChanged agentId missing', 'agentId', 'subscription { queuePositionChanged { position } }'],
  ...variableCases('agentId', 'ID', (v) => `{ agentRunUpdated(agentId: ${v}) { id } }`, ID_VALUES),
  ...variableCases('agentId', 'ID', (v) => `{ resourceSamples(agentId: ${v}) { at } }`, ID_VALUES.slice(0, 4)),
  ...variableCases('containerId', 'ID', (v) => `{ resourceSamples(containerId: ${v}) { at } }`, ID_VALUES.slice(0, 4)),
  ...variableCases('minLevel', 'HealthLevel', (v) => `{ healthAlerts(minLevel: ${v}) { id } }`, [
    ['an unknown value', 'SEVERE'],
    ['lower case', 'critical'],
    ['a number', 2],
    ['an empty string', ''],
  ]),
  ['minLevel = SEVERE (literal)', 'minLevel', 'subscription { healthAlerts(minLevel: SEVERE) { id } }'],
  ['minLevel = "CRITICAL" string (literal)', 'minLevel', 'subscription { healthAlerts(minLevel: "CRITICAL") { id } }'],
  ...variableCases('agentId', 'ID!', (v) => `{ agentLogs(agentId: ${v}) { seq } }`, ID_VALUES.slice(0, 4)),
  ...variableCases('afterSeq', 'Int', (v) => `{ agentLogs(agentId: "r1", afterSeq: ${v}) { seq } }`, [...INT_VALUES, ['-1', -1]]),
  ['agentLogs afterSeq = -1 (literal)', 'afterSeq', 'subscription { agentLogs(agentId: "r1", afterSeq: -1) { seq } }'],
];
const subscriptions: Case[] = rawSubscriptions.map(
  ([label, argument, document, variables]) =>
    [label, argument, document.replace(/^\{/, 'subscription {').replace(/^query_PLACEHOLDER/, 'subscription '), variables] as const,
);

/** As it.each rows (objects keep each field's type). */
const rows = (cases: Case[]) => cases.map(([label, argument, document, variables]) => ({ label, argument, document, variables }));

const asQuery = (cases: Case[]): Case[] =>
  cases.map(([label, argument, document, variables]) => [label, argument, document.replace(/^query_PLACEHOLDER/, 'query '), variables] as const);

describe('queries refuse bad arguments with BAD_USER_INPUT', () => {
  it.each(rows(asQuery(queries)))('$label', async ({ label, argument, document, variables }) => {
    const { status, body } = await post<{ agentRun?: unknown }>(test.url, document, variables);
    expect([200, 400], label).toContain(status);
    expect(body.data?.agentRun ?? null, label).toBeNull();
    expectRefused(body.errors, argument, label);
  });
});

describe('mutations refuse bad arguments with BAD_USER_INPUT and change nothing', () => {
  it.each(rows(mutations))('$label', async ({ label, argument, document, variables }) => {
    const { body } = await post(test.url, document, variables);
    expectRefused(body.errors, argument, label);
    expect(test.services.queue.stats().maxConcurrency).toBe(1);
    expect((await test.services.runs.list({ status: null, limit: 10 })).map((run) => run.id)).toEqual(['r1']);
  });
});

describe('subscriptions refuse bad arguments with BAD_USER_INPUT over graphql-ws and open nothing', () => {
  it.each(rows(subscriptions))('$label', async ({ label, argument, document, variables }) => {
    expectRefused(await wsErrors(document, variables), argument, label);
    expect(test.server.streams.size).toBe(0);
  });
});

describe('the same refusals over graphql-ws for queries and mutations', () => {
  it.each(rows([...asQuery(queries).slice(0, 12), ...mutations.slice(0, 12)]))('$label', async ({ label, argument, document, variables }) => {
    expectRefused(await wsErrors(document, variables), argument, label);
  });
});

it('names the argument path of a bad literal deep in an input, in the message and extensions.field', async () => {
  const { body } = await post(
    test.url,
    'mutation { startAgent(input: { group: { id: "g", name: "n", runIds: ["a", 7] }, config: { steps: ["ok", 3] } }) { agentId } }',
  );
  const fields = body.errors?.map((error) => error.extensions?.field);
  expect(fields).toEqual(['input.group.runIds[1]', 'input.config.steps[1]']);
  expect(body.errors?.[0]?.message).toMatch(/^input\.group\.runIds\[1\]: String cannot represent a non string value: 7/);
});
