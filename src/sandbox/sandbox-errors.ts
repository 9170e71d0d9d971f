/**
 * Errors from the Docker sandbox, each naming the fault so that a run can report it as such.
 */
export type SandboxFaultCode =
  /** The engine does not answer (socket gone, daemon stopped). */
  | 'DOCKER_UNAVAILABLE'
  /** The image is not present in the engine. */
  | 'IMAGE_NOT_FOUND'
  /** The container is gone (killed, removed) while something still needed it. */
  | 'CONTAINER_GONE'
  /** A path asked for in the sandbox does not exist (or is not what the call needs). */
  | 'FILE_NOT_FOUND'
  /** An archive was refused whole: an entry escapes its destination, or it is too big or malformed. */
  | 'ARCHIVE_REFUSED'
  /**
   * A file operation failed inside the sandbox for a reason of the sandbox's own (no space
   * left, a directory in the way, permission denied); the message quotes the sandbox's tools.
   */
  | 'FILE_ERROR'
  /** Anything else the engine refused. */
  | 'DOCKER_ERROR';

export class SandboxError extends Error {
  override readonly name = 'SandboxError';
  readonly code: SandboxFaultCode;

  constructor(code: SandboxFaultCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

interface DockerLikeError {
  readonly statusCode?: number;
  readonly code?: string;
  readonly reason?: string;
  readonly json?: { readonly message?: string } | null;
  readonly message?: string;
}

/**
 * Connection faults: the only errors, besides a call's deadline (see docker-call.ts), that mean
 * the engine does not answer. Anything the engine answers, even 400 or 500, is not one of them.
 */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ECONNRESET',
  'EPIPE',
  'EACCES',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Classifies an error thrown by dockerode into a {@link SandboxError} with a clear message:
 * DOCKER_UNAVAILABLE only for connection faults; an answer from the engine (a 400 for an
 * invalid reference, a refused redirect) is DOCKER_ERROR, IMAGE_NOT_FOUND or CONTAINER_GONE.
 */
export function toSandboxError(error: unknown, action: string): SandboxError {
  if (error instanceof SandboxError) return error;
  const e = (error ?? {}) as DockerLikeError;
  const detail = e.json?.message ?? e.message ?? String(error);
  if (e.code !== undefined && UNREACHABLE_CODES.has(e.code)) {
    return new SandboxError('DOCKER_UNAVAILABLE', `Docker engine unreachable while trying to ${action}: ${detail}`, { cause: error });
  }
  if (e.statusCode === 404) {
    const code = /image/i.test(detail) ? 'IMAGE_NOT_FOUND' : 'CONTAINER_GONE';
    return new SandboxError(code, `${action}: ${detail}`, { cause: error });
  }
  if (e.statusCode === 409 && /not running|is dead|marked for removal|removal in progress/i.test(detail)) {
    return new SandboxError('CONTAINER_GONE', `${action}: ${detail}`, { cause: error });
  }
  return new SandboxError('DOCKER_ERROR', `${action}: ${detail}`, { cause: error });
}

/** True only for a fault that means the engine does not answer (not for anything it answered). */
export function isEngineUnavailable(error: unknown): boolean {
  return error instanceof SandboxError && error.code === 'DOCKER_UNAVAILABLE';
}

/** True for errors that mean the container no longer exists or no longer runs. */
export function isContainerGone(error: unknown): boolean {
  return error instanceof SandboxError ? error.code === 'CONTAINER_GONE' : toSandboxError(error, '').code === 'CONTAINER_GONE';
}
