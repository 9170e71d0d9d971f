/**
 * The one exception to the request body limit. Every request is held to
 * `MAX_REQUEST_BYTES` (1 MiB) on the node request, before yoga reads it
 * (request-body-limit.ts), but for a multipart request to the GraphQL endpoint: one whose
 * operation is `uploadArchive` may carry one file of up to UPLOAD_MAX_BYTES, read as a stream
 * to disk (multipart-upload.ts); other multipart requests are read the same way under the
 * 1 MiB limit. The CSRF rule is untouched:
 * multipart is a "simple" content type, so such a request needs the x-graphql-csrf header
 * (csrf.ts runs first).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Plugin } from 'graphql-yoga';
import type { UploadSpool } from './multipart-upload.js';

export interface RequestBodiesOptions {
  readonly graphqlPath: string;
  /** Where multipart requests are read to. */
  readonly uploads: UploadSpool;
}

function isMultipartType(contentType: string | null | undefined): boolean {
  const type = contentType?.split(',')[0]?.trim().toLowerCase() ?? '';
  return type === 'multipart/form-data' || type.startsWith('multipart/form-data;');
}

/**
 * True for a multipart POST to `graphqlPath`: a request the node front leaves to
 * {@link useRequestBodies} rather than holding it to `MAX_REQUEST_BYTES` itself.
 */
export function isGraphqlMultipart(request: IncomingMessage, graphqlPath: string): boolean {
  if (request.method !== 'POST' || !isMultipartType(request.headers['content-type'])) return false;
  const target = request.url ?? '';
  const query = target.indexOf('?');
  return (query === -1 ? target : target.slice(0, query)) === graphqlPath;
}

/**
 * The yoga plugin. Put it after every plugin that sets or wraps the request parser: it wraps the
 * one chosen last.
 */
export function useRequestBodies(options: RequestBodiesOptions): Plugin {
  return {
    onRequestParse({ request, url, setRequestParser, serverContext }) {
      const node = serverContext as { readonly req?: IncomingMessage; readonly res?: ServerResponse };
      if (
        request.method === 'POST' &&
        isMultipartType(request.headers.get('content-type')) &&
        url.pathname === options.graphqlPath &&
        node.req &&
        node.res
      ) {
        const { req, res } = node;
        setRequestParser(() =>
          options.uploads.parse(req, (cleanup) => {
            // 'close' comes once the response is over, sent or not.
            if (res.closed) cleanup();
            else res.once('close', cleanup);
          }),
        );
        return;
      }
      // Every other body is held to the limit on the node request, before yoga (request-body-limit.ts).
    },
  };
}
