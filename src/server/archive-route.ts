/**
 * `GET /runs/{agentId}/archive?path=/workspace/out`: a tar stream of a path (a file or a
 * directory) in a running external run's sandbox. Same access as /graphql (http-access.ts runs
 * first: either token, a read token included, since this only reads). The answer is streamed
 * with backpressure (the sandbox is read as fast as the client takes it) and stopped when the
 * client goes away; the call counts as the run's activity while it streams.
 *
 * Status codes: 200 with `application/x-tar`; 400 for a bad id or path; 404 for an unknown run
 * or a path that does not exist; 409 for a run that is not a running external run (queued,
 * finished, another agent); 422 for a path the sandbox refuses to archive (FILE_ERROR: it
 * cannot be read); 429 past the run's concurrent file calls; 503 while shutting down.
 */
import { nativeSignal } from '../shared/deadline.js';
import { basename } from 'node:path';
import type { Plugin } from 'graphql-yoga';
import type { BosunServices } from '../api/context.js';
import { requireId } from '../api/arguments.js';
import { BosunError, errorMessage, isBosunError, type BosunErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { errorResponse } from './http-access.js';

/** The route's path: `/runs/{agentId}/archive`. */
const ARCHIVE_PATH = /^\/runs\/([^/]+)\/archive$/;

const STATUS_OF: Partial<Record<BosunErrorCode, number>> = {
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  INVALID_STATE: 409,
  RATE_LIMITED: 429,
  SHUTTING_DOWN: 503,
  DOCKER_UNAVAILABLE: 503,
  UNAVAILABLE: 503,
  SANDBOX_ERROR: 502,
  FILE_ERROR: 422,
};

/** Whether `pathname` is an archive route's. */
export function isArchivePath(pathname: string): boolean {
  return ARCHIVE_PATH.test(pathname);
}

/** The yoga plugin; put it after the access check (useHttpAccess). */
export function useArchiveRoute(services: Pick<BosunServices, 'external'>, logger: Pick<Logger, 'error'>): Plugin {
  return {
    onRequest(payload) {
      const { url, request, fetchAPI } = payload;
      const match = ARCHIVE_PATH.exec(url.pathname);
      if (!match) return;
      const endResponse = (response: Response): void => payload.endResponse(response);
      const { Response } = fetchAPI;
      if (request.method !== 'GET') {
        endResponse(new Response(null, { status: 405, headers: { allow: 'GET' } }));
        return;
      }
      return answer(services, decodeSegment(match[1]!), url.searchParams.get('path'), nativeSignal(request.signal)).then(
        ({ stream, path }) =>
          endResponse(
            new Response(stream, {
              status: 200,
              headers: {
                'content-type': 'application/x-tar',
                'content-disposition': `attachment; filename="${(basename(path) || 'archive').replace(/[^A-Za-z0-9._-]/g, '_')}.tar"`,
                'cache-control': 'no-store',
                'x-content-type-options': 'nosniff',
              },
            }),
          ),
        (error: unknown) => {
          const code = isBosunError(error) ? error.code : undefined;
          if (code === undefined) logger.error({ err: error, path: url.pathname }, 'archive download failed');
          const status = code === undefined ? 500 : (STATUS_OF[code] ?? 500);
          endResponse(
            errorResponse(Response, status, code ?? 'INTERNAL_SERVER_ERROR', code === undefined ? 'Unexpected error.' : errorMessage(error)),
          );
        },
      );
    },
  };
}

async function answer(
  services: Pick<BosunServices, 'external'>,
  agentId: string | undefined,
  path: string | null,
  signal: AbortSignal,
): Promise<{ stream: ReadableStream<Uint8Array>; path: string }> {
  const external = services.external;
  if (!external) throw new BosunError('UNAVAILABLE', 'this server takes no calls on external runs');
  const id = requireId('agentId', agentId ?? '');
  if (path === null) throw new BosunError('BAD_USER_INPUT', 'path: expected a query parameter ?path=/workspace/…', { field: 'path' });
  return { stream: await external.readArchive(id, path, signal), path };
}

/** A path segment, percent-decoded; undefined when it does not decode. */
function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}
