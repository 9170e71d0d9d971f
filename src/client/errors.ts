/**
 * The client's errors. Whatever the server refused comes back as a {@link BosunClientError}
 * whose `code` is the server's `extensions.code` (`BAD_USER_INPUT`, `INVALID_STATE`,
 * `RATE_LIMITED`, `NOT_FOUND`, `UNAUTHENTICATED`, …); what went wrong on the client's side has a
 * code of its own ({@link ClientSideCode}). An aborted call rejects with its signal's reason,
 * untouched, as `fetch` does.
 */
import type { RunInfo } from './types.js';

/** Codes the client gives errors that did not come from the server's GraphQL answer. */
export type ClientSideCode =
  /** The server could not be reached, or the connection broke. */
  | 'NETWORK_ERROR'
  /** An answer that is not what the server sends (not JSON, no data): a proxy in the way, a wrong URL. */
  | 'BAD_RESPONSE'
  /** An HTTP error without a GraphQL error in its body. */
  | 'HTTP_ERROR'
  /** The run ended (cancelled, failed, timed out in line) before it started: see {@link RunEndedError}. */
  | 'RUN_ENDED'
  /** A downloaded archive holds an entry that would land outside the local directory; nothing was extracted. */
  | 'UNSAFE_ARCHIVE'
  /** A download's bytes do not match the size or SHA-256 the server gave. */
  | 'INTEGRITY_ERROR'
  /** A local file or directory the call was given cannot be used (e.g. a socket in a directory to upload). */
  | 'LOCAL_FILE_ERROR';

/** The server's codes (bosun's `extensions.code`), as far as this client version knows them. */
export type ServerCode =
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'QUEUE_FULL'
  | 'INVALID_STATE'
  | 'DOCKER_UNAVAILABLE'
  | 'SHUTTING_DOWN'
  | 'SANDBOX_ERROR'
  | 'FILE_ERROR'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'BAD_REQUEST'
  | 'REQUEST_ENTITY_TOO_LARGE'
  | 'GRAPHQL_VALIDATION_FAILED'
  | 'INTERNAL_SERVER_ERROR';

/** One error of a GraphQL answer, as the server sent it. */
export interface GraphQLErrorShape {
  readonly message: string;
  readonly path?: readonly (string | number)[];
  readonly extensions?: Readonly<Record<string, unknown>>;
}

export interface BosunClientErrorOptions {
  /** The HTTP status of the answer, when there was one. */
  readonly status?: number;
  /** Every GraphQL error of the answer (the error's message and code are the first one's). */
  readonly errors?: readonly GraphQLErrorShape[];
  readonly cause?: unknown;
}

/** An error of a bosun call; `code` says which (see the module comment). */
export class BosunClientError extends Error {
  override readonly name: string = 'BosunClientError';
  /** The server's `extensions.code`, or a {@link ClientSideCode}. Unknown server codes come through as they are. */
  readonly code: ServerCode | ClientSideCode | (string & {});
  /** The HTTP status of the answer, when there was one. */
  readonly status: number | undefined;
  /** The input field at fault (`extensions.field`, e.g. `path`), for BAD_USER_INPUT. */
  readonly field: string | undefined;
  /** Every GraphQL error of the answer. */
  readonly errors: readonly GraphQLErrorShape[];

  constructor(code: BosunClientError['code'], message: string, options: BosunClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.errors = options.errors ?? [];
    const field = this.errors[0]?.extensions?.['field'];
    this.field = typeof field === 'string' ? field : undefined;
  }
}

/**
 * The run ended before it started (it was cancelled, timed out in line, or bosun could not start
 * it): {@link BosunClient.sandbox} rejects with this. `run` is the run as it ended.
 */
export class RunEndedError extends BosunClientError {
  override readonly name: string = 'RunEndedError';
  readonly run: RunInfo;

  constructor(run: RunInfo) {
    const why = [run.failureReason, run.error].filter((part) => part !== null && part !== '').join(': ');
    super('RUN_ENDED', `run ${run.id} ended ${run.status} before it started${why === '' ? '' : ` (${why})`}`);
    this.run = run;
  }
}

/** The client-side error for an answer that is not what bosun sends. */
export function badResponse(what: string, status: number, cause?: unknown): BosunClientError {
  return new BosunClientError('BAD_RESPONSE', `bosun answered HTTP ${status} with ${what}; is the URL bosun's /graphql endpoint?`, {
    status,
    cause,
  });
}
