/**
 * A document that does not parse gets the same answer on every transport, whichever saw it
 * first: `extensions.code` GRAPHQL_PARSE_FAILED, and HTTP 400 for a client that accepts
 * `application/graphql-response+json`. Seen first over graphql-ws, the error used to be cached
 * without its code, and HTTP answered 200 from the cache.
 */
import { GraphQLError } from 'graphql';
import { afterEach, describe, expect, it } from 'vitest';
import { PARSE_FAILED, codedParseError } from '../../src/server/parse-errors.js';
import { post, startHardenedServer, wsClient, wsRun, type GraphQLErrorBody, type HardenedServer } from '../hardening/hardened-server.js';

let test: HardenedServer | undefined;
afterEach(async () => {
  await test?.close();
  test = undefined;
});

/** The operation errors a graphql-ws client gets for `query` (it rejects with them). */
async function wsErrors(url: string, query: string): Promise<readonly GraphQLErrorBody[]> {
  const { client } = wsClient(url);
  try {
    await wsRun(client, query);
    throw new Error('expected the operation to fail');
  } catch (errors) {
    if (!Array.isArray(errors)) throw errors;
    return errors as GraphQLErrorBody[];
  } finally {
    await client.dispose();
  }
}

describe('parse errors', () => {
  it('seen first over graphql-ws, still get 400 GRAPHQL_PARSE_FAILED over HTTP, and the code over the socket', async () => {
    test = await startHardenedServer();
    const broken = '{ queueStatus { queued ';
    const overWs = await wsErrors(test.wsUrl, broken);
    expect(overWs).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/^Syntax Error/) as string, extensions: { code: PARSE_FAILED } }),
    ]);
    const overHttp = await post(test.url, broken);
    expect(overHttp.status).toBe(400);
    expect(overHttp.body.data).toBeUndefined();
    expect(overHttp.body.errors).toEqual([expect.objectContaining({ extensions: { code: PARSE_FAILED } })]);
    // And the socket again, from the cache now.
    expect((await wsErrors(test.wsUrl, broken))[0]?.extensions).toEqual({ code: PARSE_FAILED });
  });

  it('seen first over HTTP, get the same over graphql-ws and HTTP afterwards', async () => {
    test = await startHardenedServer();
    const broken = 'subscription { queueStatusChanged {';
    const first = await post(test.url, broken);
    expect(first.status).toBe(400);
    expect(first.body.errors?.[0]?.extensions).toEqual({ code: PARSE_FAILED });
    expect((await wsErrors(test.wsUrl, broken))[0]?.extensions).toEqual({ code: PARSE_FAILED });
    const again = await post(test.url, broken);
    expect(again.status).toBe(400);
    expect(again.body.errors?.[0]?.extensions).toEqual({ code: PARSE_FAILED });
  });

  it('answer GET with 400 too', async () => {
    test = await startHardenedServer();
    const response = await fetch(`${test.url}?query=${encodeURIComponent('{ queueStatus {')}`, {
      headers: { accept: 'application/graphql-response+json' },
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { errors: GraphQLErrorBody[] }).errors[0]?.extensions).toEqual({ code: PARSE_FAILED });
  });
});

describe('codedParseError', () => {
  it('adds the code and the spec status to an uncoded error, and leaves a coded one alone', () => {
    const coded = codedParseError(new GraphQLError('Syntax Error: x'));
    expect(coded.extensions).toEqual({ code: PARSE_FAILED, http: { status: 400, spec: true } });
    const tooLong = new GraphQLError('The operation is too long.', { extensions: { code: 'BAD_USER_INPUT' } });
    expect(codedParseError(tooLong)).toBe(tooLong);
  });
});
