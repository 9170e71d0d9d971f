/**
 * The cost of an operation: list sizes multiplied through nesting, from literals, variables and
 * defaults; fragments, introspection and unknown fields; and bosun's own operations against the
 * attack's.
 */
import { getOperationAST, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { buildSchema } from '../../src/api/build-schema.js';
import { GRAPHIQL_DEFAULT_QUERY } from '../../src/server/graphiql.js';
import { DEFAULT_LIST_SIZE, operationCost, type VariableValues } from '../../src/server/query-cost.js';
import { QUERY_LIMITS } from '../../src/server/server-limits.js';

const schema = buildSchema();

/** The cost of the document's one operation (or the named one). */
function cost(query: string, variables?: VariableValues, operationName?: string): number {
  const document = parse(query);
  const operation = getOperationAST(document, operationName);
  if (!operation) throw new Error('no such operation');
  return operationCost(schema, document, operation, variables);
}

describe('operationCost', () => {
  it('counts each field once per object it is in, and a list as its size times what it selects', () => {
    expect(cost('{ queueStatus { queued running } }')).toBe(3);
    expect(cost('{ agentRun(id: "x") { id status group { id runIds } } }')).toBe(1 + 2 + 1 + 1 + (1 + DEFAULT_LIST_SIZE));
    // agentRuns: 50 by default; logs: every line kept, 10,000 by default.
    expect(cost('{ agentRuns { id } }')).toBe(1 + 50);
    expect(cost('{ agentRuns { logs { seq line } } }')).toBe(1 + 50 * (1 + 10_000 * 2));
    expect(cost('{ agentRuns(limit: 500) { logs(last: 10) { line } } }')).toBe(1 + 500 * (1 + 10));
  });

  it('multiplies through every level of nesting, and sums aliases', () => {
    const one = 'agentRuns(limit: 500) { logs { line } }';
    expect(cost(`{ ${one} }`)).toBe(5_000_501);
    const attack = `{ ${Array.from({ length: 20 }, (_, index) => `a${index}: ${one}`).join(' ')} }`;
    expect(cost(attack)).toBe(20 * 5_000_501);
  });

  it('caps a size at what the resolver answers at most, and counts a refused size as nothing (its error is the one to report)', () => {
    expect(cost('{ agentRuns(limit: 100000) { id } }')).toBe(1 + 500);
    expect(cost('{ agentRuns(limit: -5) { id } }')).toBe(1);
    expect(cost('{ agentRun(id: "x") { logs(last: 99999999999) { seq } } }')).toBe(2);
    expect(cost('{ agentRun(id: "x") { logs(last: "all") { seq } } }')).toBe(2);
    const query = 'query ($n: Int) { agentRun(id: "x") { logs(last: $n) { seq } } }';
    for (const n of [2 ** 31, 1e20, 1.5, 'ten', -1]) expect(cost(query, { n }), String(n)).toBe(2);
    expect(cost(query, { n: 2 ** 31 - 1 })).toBe(2 + (2 ** 31 - 1));
  });

  it('counts a size given by a variable as its value; without it, as its default, else 1 at validation or the default size at execution', () => {
    const query = 'query ($n: Int, $m: Int = 7) { agentRuns(limit: 10) { a: logs(last: $n) { line } b: logs(last: $m) { line } } }';
    // At validation (no variables): $n counts as 1, $m as its default.
    expect(cost(query)).toBe(1 + 10 * (1 + 1 + 1 + 7));
    // At execution: their values, or $m's default, or logs' default size.
    expect(cost(query, { n: 1_000, m: 2 })).toBe(1 + 10 * (1 + 1_000 + 1 + 2));
    expect(cost(query, {})).toBe(1 + 10 * (1 + 10_000 + 1 + 7));
    expect(cost(query, { n: null })).toBe(1 + 10 * (1 + 10_000 + 1 + 7));
  });

  it('counts a fragment wherever it is spread, inline fragments as their fields, and no cycle forever', () => {
    const fragment = 'fragment L on AgentRun { logs(last: 100) { line } }';
    expect(cost(`{ agentRuns(limit: 10) { ...L } } ${fragment}`)).toBe(1 + 10 * (1 + 100));
    expect(cost(`{ a: agentRuns(limit: 10) { ...L } b: agentRun(id: "x") { ...L ... on AgentRun { id } } } ${fragment}`)).toBe(
      1 + 10 * 101 + (1 + 101 + 1),
    );
    // Validation refuses the cycle; the cost does not loop over it meanwhile.
    expect(cost('{ agentRun(id: "x") { ...A } } fragment A on AgentRun { id ...B } fragment B on AgentRun { status ...A }')).toBe(1 + 2);
  });

  it('does not count introspection; counts __typename and an unknown field as one value', () => {
    expect(cost('{ __schema { types { name fields { name } } } }')).toBe(0);
    expect(cost('{ __type(name: "AgentRun") { name } queueStatus { __typename nope } }')).toBe(3);
  });

  it("keeps bosun's own operations under the limit and the attack far over it", async () => {
    // Plain JavaScript without types: imported by URL so that the compiler does not look for them.
    const dashboard = (await import(new URL('../../src/dashboard/public/js/operations.js', import.meta.url).href)) as Record<string, unknown>;
    const variables = { limit: dashboard['RUN_LIST_LIMIT'], samples: dashboard['CHART_SAMPLES'], id: 'r1', agentId: 'r1', afterSeq: 0 };
    const operations = Object.values(dashboard).filter(
      (value): value is string => typeof value === 'string' && /^\s*(query|mutation|subscription)\b/.test(value),
    );
    expect(operations.length).toBeGreaterThanOrEqual(10);
    for (const operation of operations) {
      expect(cost(operation), operation).toBeLessThanOrEqual(QUERY_LIMITS.maxCost);
      expect(cost(operation, variables), operation).toBeLessThanOrEqual(QUERY_LIMITS.maxCost);
    }
    expect(cost(GRAPHIQL_DEFAULT_QUERY, undefined, 'StartAgent')).toBeLessThan(100);
    expect(cost(GRAPHIQL_DEFAULT_QUERY, undefined, 'WatchQueue')).toBeLessThan(100);
    expect(cost('{ agentRuns(limit: 500) { logs { line } } }')).toBeGreaterThan(QUERY_LIMITS.maxCost);
  });

  it('sizes the edges of a connection by its `first` (default 50, at most 500), through fragments and nesting', () => {
    expect(cost('{ runs { totalCount } }')).toBe(1 + 1);
    expect(cost('{ runs { edges { node { id } } } }')).toBe(1 + (1 + 50 * (1 + 1)));
    expect(cost('{ runs(first: 10) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }')).toBe(
      1 + (1 + 10 * (1 + 1 + 1)) + (1 + 2),
    );
    expect(cost('{ runs(first: 100000) { edges { cursor } } }')).toBe(1 + (1 + 500));
    expect(cost('query ($n: Int) { runs(first: $n) { edges { cursor } } }', { n: 7 })).toBe(1 + (1 + 7));
    // The same fragment on the connection counts its own connection's size each time.
    const fragment = 'fragment E on AgentRunConnection { edges { cursor } }';
    expect(cost(`{ a: runs(first: 2) { ...E } b: runs(first: 3) { ...E ... on AgentRunConnection { edges { cursor } } } } ${fragment}`)).toBe(
      1 + (1 + 2) + 1 + (1 + 3) + (1 + 3),
    );
    // Nested: a group's runs inside each run of a page.
    expect(cost('{ runs(first: 10) { edges { node { group { runs(first: 20) { edges { cursor } } } } } } }')).toBe(
      1 + (1 + 10 * (1 + (1 + (1 + (1 + 20))))),
    );
    expect(cost('{ runs(first: 500) { edges { node { logs { line } } } } }')).toBeGreaterThan(QUERY_LIMITS.maxCost);
    expect(cost('{ failureGroup(id: "g") { runs(first: 500) { edges { node { logs { line } } } } } }')).toBeGreaterThan(QUERY_LIMITS.maxCost);
  });
});
