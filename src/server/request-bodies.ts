/**
 * How large a request body may be, in one place. Every request is held to
 * {@link MAX_REQUEST_BYTES} (1 MiB), as yoga's own limit did (its `maxRequestBodySize` is off,
 * because it cannot make the one exception): refused with HTTP 413 from its Content-Length
 * before it is read, or the moment a body without one passes the limit. The exception: a
 * multipart request to the GraphQL endpoint whose operation is `uploadArchive` may carry one
 * file of up to UPLOAD_MAX_BYTES, read as a stream to disk (multipart-upload.ts). Other
 * multipart requests are read the same way under the 1 MiB limit. The CSRF rule is untouched:
 * multipart is a "simple" content type, so such a request needs the x-graphql-csrf header
 * (csrf.ts runs first).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { UploadSpool } from './multipart-upload.js';
import { MAX_REQUEST_BYTES } from './server-limits.js';

export interface RequestBodiesOptions {
  readonly graphqlPath: string;
  /** Where multipart requests are read to. */
  readonly uploads: UploadSpool;
  /** Default {@link MAX_REQUEST_BYTES}. */
  readonly maxBytes?: number;
}

const CONTENT_LENGTH = /^\d+$/;

function tooLarge(): GraphQLError {
  return new GraphQLError('Request body too large', { extensions: { code: 'REQUEST_ENTITY_TOO_LARGE', http: { status: 413 } } });
}

function isMultipart(request: Request): boolean {
  const type = request.headers.get('content-type')?.split(',')[0]?.trim().toLowerCase() ?? '';
  return type === 'multipart/form-data' || type.startsWith('multipart/form-data;');
}

/**
 * The yoga plugin. Put it after every plugin that sets or wraps the request parser: it wraps the
 * one chosen last.
 */
export function useRequestBodies(options: RequestBodiesOptions): Plugin {
  const maxBytes = options.maxBytes ?? MAX_REQUEST_BYTES;
  return {
    onRequestParse({ request, url, requestParser, setRequestParser, serverContext, fetchAPI }) {
      const node = serverContext as { readonly req?: IncomingMessage; readonly res?: ServerResponse };
      if (request.method === 'POST' && isMultipart(request) && url.pathname === options.graphqlPath && node.req && node.res) {
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
      const contentLength = request.headers.get('content-length');
      if (contentLength !== null) {
        if (!CONTENT_LENGTH.test(contentLength)) {
          throw new GraphQLError('Content-Length header is invalid.', { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
        }
        if (Number(contentLength) > maxBytes) throw tooLarge();
      }
      if (requestParser === undefined || request.body === null) return;
      const parse = requestParser;
      setRequestParser((incoming) => parse(limitBody(incoming, maxBytes, fetchAPI)));
    },
  };
}

/** `request` with a body that fails (413) once more than `limitBytes` have been read from it. */
function limitBody(request: Request, limitBytes: number, fetchAPI: { Request: typeof Request; TransformStream: typeof TransformStream }): Request {
  const body = request.body;
  if (!body) return request;
  // The platform's stream types cannot be mixed with the ponyfill's (graphql-yoga#4583).
  const Transform = body instanceof ReadableStream ? globalThis.TransformStream : fetchAPI.TransformStream;
  let readBytes = 0;
  const limited = body.pipeThrough(
    new Transform<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        readBytes += chunk.byteLength;
        if (readBytes > limitBytes) controller.error(tooLarge());
        else controller.enqueue(chunk);
      },
    }),
  );
  return new fetchAPI.Request(request.url, {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
    body: limited,
    duplex: 'half',
  } as RequestInit);
}
