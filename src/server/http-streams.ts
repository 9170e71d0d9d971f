/**
 * Streaming over HTTP: a subscription answered as SSE (or any other streamed result) holds a
 * connection, buffers and a subscription as long as a WebSocket does, so it takes one of the same
 * streaming slots (MAX_WS_CONNECTIONS, streaming-slots.ts) for as long as its response is open.
 * Past the cap the operation is ended before anything is streamed and answered with HTTP 503
 * (`RATE_LIMITED`, Retry-After). And a client that does not read is bounded as over graphql-ws:
 * once more than {@link SSE_HARD_BUFFER_BYTES} wait in an event-stream response and its socket
 * (a query's answer streamed as SSE included), the response is cut.
 */
import type { ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../logger.js';
import type { LogSummary } from './log-summary.js';
import { SSE_HARD_BUFFER_BYTES } from './server-limits.js';
import type { StreamingSlots } from './streaming-slots.js';

export interface HttpStreamsOptions {
  readonly slots: StreamingSlots;
  /** Where refusals are counted. */
  readonly refusals: LogSummary;
  readonly logger: Pick<Logger, 'warn'>;
  /** Bytes waiting past which a response is cut; default {@link SSE_HARD_BUFFER_BYTES}. */
  readonly hardBytes?: number;
}

/** What a streamed response's content type starts with. */
const STREAMED_CONTENT_TYPE = /^\s*(text\/event-stream|multipart\/mixed)\b/i;

/** The node response of a request (yoga on node:http); without one there is no connection to hold. */
const nodeResponseOf = (serverContext: unknown): ServerResponse | undefined => (serverContext as { res?: ServerResponse }).res;

/** The yoga plugin. */
export function useHttpStreams(options: HttpStreamsOptions): Plugin {
  const { slots, refusals, logger, hardBytes = SSE_HARD_BUFFER_BYTES } = options;
  return {
    onResultProcess(payload) {
      const { result, serverContext } = payload;
      if (!isAsyncIterable(result)) return;
      const response = nodeResponseOf(serverContext);
      if (response === undefined) return;
      const remote = response.socket?.remoteAddress;
      const opened = slots.openStream();
      if (!opened.ok) {
        refusals.note(`SSE subscription refused: ${opened.message}`, { remote, status: 503 });
        // Its subscription was set up already: end it (its listeners go with it).
        endIterable(result);
        payload.setResult({
          errors: [
            new GraphQLError(opened.message, {
              extensions: { code: 'RATE_LIMITED', http: { status: 503, headers: { 'retry-after': '5' } } },
            }),
          ],
        });
        return;
      }
      response.once('close', () => opened.slot.release());
      // A client already gone has had its 'close'.
      if (response.destroyed) opened.slot.release();
    },
    onResponse({ response, serverContext }) {
      if (!STREAMED_CONTENT_TYPE.test(response.headers.get('content-type') ?? '')) return;
      const nodeResponse = nodeResponseOf(serverContext);
      if (nodeResponse === undefined) return;
      // Yoga writes the body after this hook, through the node response's write.
      limitUnreadBytes(nodeResponse, {
        hardBytes,
        onTooSlow: (bufferedBytes) => {
          logger.warn({ remote: nodeResponse.socket?.remoteAddress, bufferedBytes }, 'SSE response cut: subscriber too slow');
          nodeResponse.destroy();
        },
      });
    },
  };
}

/**
 * Watches what `response` holds unsent: once more than `hardBytes` wait (after a write, in the
 * response and its socket), `onTooSlow` runs, once.
 */
export function limitUnreadBytes(
  response: ServerResponse,
  options: { readonly hardBytes: number; readonly onTooSlow: (bufferedBytes: number) => void },
): void {
  // The wrapper stands in for this response's own write, so that is what it calls.
  const write = response.write.bind(response) as (...args: Parameters<ServerResponse['write']>) => boolean;
  let gaveUp = false;
  response.write = function (...args: Parameters<ServerResponse['write']>): boolean {
    const accepted = write(...args);
    if (!gaveUp && response.writableLength > options.hardBytes) {
      gaveUp = true;
      options.onTooSlow(response.writableLength);
    }
    return accepted;
  } as ServerResponse['write'];
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

function endIterable(iterable: AsyncIterable<unknown>): void {
  const iterator = iterable[Symbol.asyncIterator]();
  void Promise.resolve(iterator.return?.()).catch(() => undefined);
}
