/**
 * `GET /runs/{agentId}/artifacts/{path}`: the bytes of one stored artifact (see
 * src/api/artifacts.ts for the URL), streamed from the artifact store, so it works after the
 * run's container is gone and across restarts.
 *
 * - Access: the same as /graphql: this plugin sits after the HTTP access check (http-access.ts),
 *   which takes either token, so the read token may download.
 * - The URL is only a lookup key into the store's records: nothing in it is joined into a file
 *   path, so `..`, encoded slashes or NUL bytes cannot reach outside the store; they name no
 *   artifact (404).
 * - The response is a download, never a page: `application/octet-stream`, `attachment` with a
 *   safe file name, `nosniff` and a CSP that allows nothing, so a stored HTML file cannot run
 *   as bosun's origin.
 */
import { posix } from 'node:path';
import type { Plugin } from 'graphql-yoga';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { isArtifactUrl, parseArtifactUrl } from '../api/artifacts.js';
import type { Artifact, ArtifactSource } from '../runs/artifact-store.js';
import { errorResponse } from './http-access.js';

/** The yoga plugin; put it after {@link useHttpAccess}. */
export function useArtifactDownloads(source: ArtifactSource, logger: Pick<Logger, 'error'>): Plugin {
  return {
    onRequest(payload) {
      const { url, request, fetchAPI } = payload;
      if (!isArtifactUrl(url.pathname)) return;
      const { Response } = fetchAPI;
      const end = (response: Response): void => payload.endResponse(response);
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        end(new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } }));
        return;
      }
      const target = parseArtifactUrl(url.pathname);
      const notFound = () => errorResponse(Response, 404, 'NOT_FOUND', 'No such artifact: the run does not exist or kept nothing at that path');
      if (!target) {
        end(notFound());
        return;
      }
      const answer = async (): Promise<Response> => {
        const artifact = await source.get(target.runId, target.path);
        if (!artifact) return notFound();
        const headers = downloadHeaders(artifact);
        if (request.headers.get('if-none-match') === headers.etag) return new Response(null, { status: 304, headers: { etag: headers.etag } });
        if (request.method === 'HEAD') return new Response(null, { status: 200, headers });
        const content = await source.read(target.runId, target.path);
        return content ? new Response(content.stream, { status: 200, headers: downloadHeaders(content.artifact) }) : notFound();
      };
      return answer().then(end, (error: unknown) => {
        logger.error({ err: error, runId: target.runId, path: target.path }, `artifact download failed: ${errorMessage(error)}`);
        end(errorResponse(Response, 500, 'INTERNAL_SERVER_ERROR', 'The artifact could not be read'));
      });
    },
  };
}

/** The headers of a download of `artifact`. */
export function downloadHeaders(artifact: Artifact): Record<string, string> & { etag: string } {
  return {
    'content-type': 'application/octet-stream',
    'content-length': String(artifact.sizeBytes),
    'content-disposition': contentDisposition(posix.basename(artifact.path)),
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
    'cache-control': 'private, no-cache',
    etag: `"${artifact.sha256}"`,
  };
}

/**
 * `attachment` naming the file: `filename` with only safe ASCII (others replaced by `_`), and the
 * exact name in `filename*` (RFC 6266 / 5987), percent-encoded, so no byte of a sandbox file
 * name (quotes, newlines, non-UTF-8) can break the header.
 */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^A-Za-z0-9._-]/g, '_') || 'artifact';
  const encoded = encodeURIComponent(name).replace(/['()*!]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
