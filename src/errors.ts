/**
 * bosun's typed errors. Every error that a user may cause or that names a fault carries a stable
 * `code`; the GraphQL layer maps it to `extensions.code`, and anything without one is masked.
 * Domain modules throw these; none of them imports graphql.
 */
export type BosunErrorCode =
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'QUEUE_FULL'
  | 'INVALID_STATE'
  | 'DOCKER_UNAVAILABLE'
  | 'SHUTTING_DOWN'
  | 'SANDBOX_ERROR'
  /**
   * The sandbox refused a file call of an external run (no space left, a directory in the way, a
   * read-only or unreadable path); the message quotes the sandbox. The run goes on.
   */
  | 'FILE_ERROR'
  /** No token, or one that is not BOSUN_API_TOKEN / BOSUN_READ_TOKEN (HTTP 401). */
  | 'UNAUTHENTICATED'
  /** A valid token that may not do this: a read token on a mutation (HTTP 403). */
  | 'FORBIDDEN'
  /** Too many startAgent / retryAgent calls a minute for this token (START_RATE_PER_MINUTE). */
  | 'RATE_LIMITED'
  /** bosun cannot take this now, for a fault of its own: its store cannot write (a full disk); it recovers by itself. */
  | 'UNAVAILABLE';

/** The codes that the API exposes to clients as `extensions.code`. */
export const BOSUN_ERROR_CODES: readonly BosunErrorCode[] = Object.freeze([
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'QUEUE_FULL',
  'INVALID_STATE',
  'DOCKER_UNAVAILABLE',
  'SHUTTING_DOWN',
  'SANDBOX_ERROR',
  'FILE_ERROR',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'UNAVAILABLE',
]);

export interface BosunErrorOptions {
  /** The input field at fault, as a dotted path (`config.memory`), for BAD_USER_INPUT. */
  readonly field?: string;
  readonly cause?: unknown;
}

export class BosunError extends Error {
  override readonly name = 'BosunError';
  readonly code: BosunErrorCode;
  readonly field: string | undefined;

  constructor(code: BosunErrorCode, message: string, options: BosunErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options.field;
  }
}

export function isBosunError(error: unknown): error is BosunError {
  return error instanceof BosunError;
}

/**
 * A value that does not have the expected form. `expected` reads as the rest of a sentence
 * ("a size such as 512m or 2g"), so callers can prefix it with a field or variable name.
 */
export class InvalidValueError extends Error {
  override readonly name = 'InvalidValueError';
  readonly expected: string;
  readonly value: unknown;

  constructor(expected: string, value: unknown) {
    super(`Expected ${expected}, got ${describeValue(value)}`);
    this.expected = expected;
    this.value = value;
  }
}

/** A short, safe rendering of a user-supplied value for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    const shown = value.length > 64 ? `${value.slice(0, 64)}…` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list of ${value.length}`;
  return typeof value;
}

/** Turns an InvalidValueError about `field` into a BAD_USER_INPUT error that names the field. */
export function badUserInput(field: string, error: InvalidValueError): BosunError {
  return new BosunError('BAD_USER_INPUT', `${field}: expected ${error.expected}, got ${describeValue(error.value)}`, {
    field,
    cause: error,
  });
}

/** The message of any thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
