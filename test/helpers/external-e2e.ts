/**
 * End-to-end helpers for external runs over HTTP GraphQL: starting one, waiting until it takes
 * calls, the calls themselves with typed replies (or their errors), and multipart uploads built
 * with FormData as any client would. The GraphQL documents are the client's own (src/client/operations.ts,
 * checked against the schema there): only the strings are shared, each request is made here by hand,
 * so that these tests exercise the HTTP API as any client sees it, not through bosun's client.
 */
import { EXEC, FINISH_AGENT, UPLOAD_ARCHIVE } from '../../src/client/operations.js';
import { gql, startRun, waitForRun } from './e2e.js';
import { postGraphQL, type GraphQLResponse } from './graphql-clients.js';

export interface ExecReply {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly truncated: boolean;
  readonly timedOut: boolean;
  readonly durationMs: number;
  readonly step: {
    readonly index: number;
    readonly command: string;
    readonly exitCode: number | null;
    readonly startedAt: string | null;
    readonly finishedAt: string | null;
  };
}

export interface SandboxFileReply {
  readonly path: string;
  readonly type: string;
  readonly size: number;
  readonly mode: number;
}

export type GraphQLErrors = NonNullable<GraphQLResponse['errors']>;

export { EXEC };

/** Starts an external run; resolves with its id once it takes calls (its session is open and idle). */
export async function startExternal(url: string, config: Record<string, unknown> = {}): Promise<string> {
  const { agentId } = await startRun(url, { agent: 'external', ...config });
  await waitForRun<{ status: string; idleSince: string | null }>(
    url,
    agentId,
    (run) => run.idleSince !== null,
    `run ${agentId} takes calls`,
    30_000,
    'idleSince',
  );
  return agentId;
}

/** Posts an operation; resolves with its data or its errors (never throws for GraphQL errors). */
export async function call<T>(
  url: string,
  query: string,
  variables: Record<string, unknown>,
): Promise<{ data?: T | null; errors?: GraphQLErrors; status: number }> {
  const { status, body } = await postGraphQL<T>(url, query, variables);
  return { status, ...(body.data === undefined ? {} : { data: body.data }), ...(body.errors === undefined ? {} : { errors: body.errors }) };
}

export async function exec(url: string, id: string, command: string, options?: Record<string, unknown>): Promise<ExecReply> {
  return (await gql<{ exec: ExecReply }>(url, EXEC, { id, command, options })).exec;
}

/** The errors of an exec that is expected to fail. */
export async function execErrors(url: string, id: string, command: string, options?: Record<string, unknown>): Promise<GraphQLErrors> {
  const { errors } = await call(url, EXEC, { id, command, options });
  if (!errors) throw new Error(`expected exec ${JSON.stringify(command)} to fail`);
  return errors;
}

/** finishAgent: variables `id`, `exitCode` and `error`. */
export const FINISH = FINISH_AGENT;

/** A code and message of the first error, for compact assertions. */
export function firstError(errors: GraphQLErrors | undefined): { code: unknown; message: string; field?: unknown } {
  const error = errors?.[0];
  if (!error) throw new Error('expected an error');
  return {
    code: error.extensions?.['code'],
    message: error.message,
    ...(error.extensions?.['field'] === undefined ? {} : { field: error.extensions['field'] }),
  };
}

/** `uploadArchive` as a multipart request (the spec's `operations`, `map`, then the file). */
export async function uploadArchive(
  url: string,
  id: string,
  archive: Uint8Array,
  path?: string,
): Promise<{ status: number; data?: { uploadArchive: SandboxFileReply[] } | null; errors?: GraphQLErrors }> {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query: UPLOAD_ARCHIVE, variables: { id, archive: null, path: path ?? null } }));
  form.append('map', JSON.stringify({ 0: ['variables.archive'] }));
  form.append('0', new Blob([Buffer.from(archive)]), 'archive.tar');
  const response = await fetch(url, { method: 'POST', body: form, headers: { 'x-graphql-csrf': '1' } });
  const text = await response.text();
  let body: GraphQLResponse<{ uploadArchive: SandboxFileReply[] }>;
  try {
    body = JSON.parse(text) as GraphQLResponse<{ uploadArchive: SandboxFileReply[] }>;
  } catch {
    throw new Error(`uploadArchive answered HTTP ${response.status}: ${text}`);
  }
  return {
    status: response.status,
    ...(body.data === undefined ? {} : { data: body.data }),
    ...(body.errors === undefined ? {} : { errors: body.errors }),
  };
}
