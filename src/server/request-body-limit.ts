/**
 * The request body limit (MAX_REQUEST_BYTES), enforced on the node request before yoga reads it,
 * instead of by yoga's `maxRequestBodySize`. Yoga's pipes every request's body through a web
 * TransformStream to count it — a stream pipeline, an AbortSignal and a DOMException per request,
 * about a seventh of the CPU a small query costs — although a body with a Content-Length, which
 * every GraphQL client sends, cannot be longer than it says: node's HTTP parser ends it there.
 * So:
 * - a Content-Length over the limit gets 413 at once, one that is not a number 400;
 * - a body without one (chunked) is read here, up to the limit (413 past it), and handed to yoga
 *   read: @whatwg-node/server takes a node request's `body`, when set, as the request's body (as
 *   body-parser middleware sets it).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendErrorResponse } from './request-target.js';

/** Only a single non-negative integer is a Content-Length (anything else may be a smuggling attempt). */
const CONTENT_LENGTH = /^\d+$/;

const tooLarge = (response: ServerResponse): void =>
  sendErrorResponse(response, 413, 'REQUEST_ENTITY_TOO_LARGE', 'Request body too large', { close: true });

/**
 * Applies the limit to `request`, then calls `proceed` (at once unless a chunked body has to be
 * read first), or answers the request itself (413, 400) and never calls it.
 */
export function limitRequestBody(request: IncomingMessage, response: ServerResponse, maxBytes: number, proceed: () => void): void {
  const length = request.headers['content-length'];
  if (length !== undefined) {
    if (!CONTENT_LENGTH.test(length)) {
      sendErrorResponse(response, 400, 'BAD_REQUEST', 'Content-Length header is invalid.', { close: true });
    } else if (Number(length) > maxBytes) {
      tooLarge(response);
    } else {
      proceed();
    }
    return;
  }
  // No body at all: nothing to limit.
  if (request.headers['transfer-encoding'] === undefined) {
    proceed();
    return;
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  const onData = (chunk: Buffer): void => {
    bytes += chunk.length;
    if (bytes > maxBytes) {
      stop();
      // The rest is never read: the connection closes after the answer.
      tooLarge(response);
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = (): void => {
    stop();
    if (bytes === 0) {
      sendErrorResponse(response, 400, 'BAD_REQUEST', 'The request body is empty.');
      return;
    }
    (request as IncomingMessage & { body?: Buffer }).body = Buffer.concat(chunks, bytes);
    proceed();
  };
  // A client that goes away mid-body: nothing to answer.
  const onError = (): void => stop();
  const stop = (): void => {
    request.off('data', onData);
    request.off('end', onEnd);
    request.off('error', onError);
    request.pause();
  };
  request.on('data', onData);
  request.on('end', onEnd);
  request.on('error', onError);
}
