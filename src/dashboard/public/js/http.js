/**
 * Mutations over plain HTTP POST. Unlike an operation on the WebSocket, a request that fails is
 * never sent again by itself, so a lost connection cannot start a run twice.
 */

import { authorizationHeaders, replaceRefusedToken, storedToken } from './auth.js';

const ENDPOINT = '/graphql';

/** A mutation refused by the server, or a request that did not reach it. */
export class MutationError extends Error {
  constructor(message, errors = []) {
    super(message);
    this.name = 'MutationError';
    this.errors = errors;
  }
}

/**
 * Sends one operation and resolves with its data.
 * @param {string} query
 * @param {Record<string, unknown>} variables
 * @returns {Promise<any>}
 * @throws {MutationError} with the server's messages
 */
export async function mutate(query, variables) {
  let response = await post(query, variables);
  if (response.status === 401 && replaceRefusedToken(storedToken())) response = await post(query, variables);
  let body;
  try {
    body = await response.json();
  } catch {
    throw new MutationError(`bosun answered HTTP ${response.status} without a GraphQL result`);
  }
  if (body.errors?.length) throw new MutationError(body.errors.map((error) => error.message).join('; '), body.errors);
  if (!response.ok || !body.data) throw new MutationError(`bosun answered HTTP ${response.status}`);
  return body.data;
}

/** @returns {Promise<Response>} */
async function post(query, variables) {
  try {
    return await fetch(ENDPOINT, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...authorizationHeaders() },
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    throw new MutationError(`bosun did not answer (${error instanceof Error ? error.message : String(error)})`);
  }
}
