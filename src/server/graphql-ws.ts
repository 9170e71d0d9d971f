/**
 * graphql-ws (the graphql-transport-ws protocol) on the HTTP server's GraphQL path, executing
 * through yoga's envelop so that WebSocket operations get the same schema, context, plugins and
 * error masking as HTTP ones (yoga's "subscriptions/graphql-ws" recipe).
 *
 * The socket layer is bosun's own (graphql-ws's `makeServer` over `ws`, as graphql-ws/use/ws
 * does it) so that it can be defended:
 * - upgrades are checked before the handshake (path, origin, loopback Host without tokens; see
 *   ws-upgrade.ts); messages are at most 1 MiB;
 * - a new socket is *pending* until its `connection_init` is accepted: at most
 *   MAX_PENDING_WS_PER_ADDRESS such sockets per client address, each closed with 4408 if it sends
 *   none within {@link WS_INIT_TIMEOUT_MS}. Only an accepted socket takes one of the
 *   MAX_WS_CONNECTIONS streaming slots, which SSE responses share (streaming-slots.ts); so
 *   sockets that never authenticate cannot keep an authenticated client out. A socket refused
 *   for a full cap gets HTTP 503 (upgrade) or close 1013 (at `connection_init`);
 * - with tokens, `connection_init` must carry one in `connectionParams.authorization` (`Bearer x`
 *   or `x`), else the socket is closed with 4403; every subscribe checks it again;
 * - a socket bosun closes gets {@link WS_CLOSE_GRACE_MS} to answer the close handshake, then is
 *   cut (ws would wait 30 s, holding the slot);
 * - refusals and socket errors, which a client can cause at will, are logged as at most one line
 *   per 10 s (log-summary.ts);
 * - at most {@link MAX_OPERATIONS_PER_SOCKET} operations run at once on a socket;
 * - a message only a server may send (`next`, `error`, the acks) closes the socket with 4400, as
 *   the protocol says for a message of the wrong type;
 * - a client that stops reading holds its operations back rather than growing bosun's memory,
 *   and is disconnected (1013, "subscriber too slow") past {@link WS_HARD_BUFFER_BYTES} waiting
 *   (see ws-backpressure.ts).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { DocumentNode, ExecutionArgs, GraphQLError, GraphQLSchema } from 'graphql';
import { CloseCode, MessageType, makeServer, handleProtocols, parseMessage, type Context, type OperationResult } from 'graphql-ws';
import type { YogaServerInstance } from 'graphql-yoga';
import WebSocket, { WebSocketServer } from 'ws';
import { BosunError } from '../errors.js';
import { TokenAuth, connectionParamsToken, type Caller } from './auth.js';
import { LogSummary } from './log-summary.js';
import { isGraphQLError, publicErrorJson, toGraphQLError } from './mask-error.js';
import { OriginPolicy } from './origin-policy.js';
import {
  MAX_OPERATIONS_PER_SOCKET,
  WS_CLOSE_GRACE_MS,
  WS_HARD_BUFFER_BYTES,
  WS_INIT_TIMEOUT_MS,
  WS_MAX_PAYLOAD_BYTES,
  WS_SOFT_BUFFER_BYTES,
  WS_STREAMS_FULL_CLOSE,
  WS_TOO_SLOW_CLOSE,
} from './server-limits.js';
import type { ServerLogger } from './server-logger.js';
import { StreamingSlots, type PendingSlot } from './streaming-slots.js';
import { backpressuredSend } from './ws-backpressure.js';
import { checkUpgrade, refuseUpgrade } from './ws-upgrade.js';

export interface GraphQLWsServer {
  readonly wsServer: WebSocketServer;
  /**
   * Closes every socket with 1001 (Going away), which completes their subscriptions, and closes
   * the WebSocket server. Sockets that have not finished the closing handshake after `graceMs`
   * are terminated. Upgrades that arrive meanwhile are refused with 503.
   */
  dispose(graceMs?: number): Promise<void>;
}

export interface AttachGraphQLWsOptions {
  readonly httpServer: Server;
  readonly yoga: YogaEnvelop;
  readonly path: string;
  readonly logger: ServerLogger;
  /** Who may connect; default: no token required. */
  readonly auth?: TokenAuth;
  /** Which browser origins may connect; default: the server's own only. */
  readonly origins?: OriginPolicy;
  /**
   * The streaming slots (shared with SSE) and pending slots sockets take; default 500 streaming
   * connections, 16 pending sockets per address.
   */
  readonly slots?: StreamingSlots;
  /** Where refused upgrades and `connection_init`s are counted; default one of its own. */
  readonly refusals?: LogSummary;
  /** How often each socket is pinged (and how long a pong may take); default 12 s, as graphql-ws's. */
  readonly keepAliveMs?: number;
}

// Yoga's instance type is generic over its server and user contexts, which this module does not read:
// it needs only getEnveloped, whose type does not tie them down.
type YogaEnvelop = Pick<YogaServerInstance<Record<string, unknown>, Record<string, unknown>>, 'getEnveloped'>;

/**
 * What `getEnveloped` gives one operation, as graphql-js (the one yoga runs on) types it: envelop's
 * own types are `any`, to fit every graphql version. Results stay `unknown`: envelop's may be
 * incremental.
 */
interface Enveloped {
  readonly schema: GraphQLSchema;
  readonly parse: (source: string) => DocumentNode;
  readonly validate: (schema: GraphQLSchema, document: DocumentNode) => readonly GraphQLError[];
  readonly contextFactory: () => unknown;
  readonly execute: (args: ExecutionArgs) => unknown;
  readonly subscribe: (args: ExecutionArgs) => unknown;
}

/** What graphql-ws keeps about each socket (its `ctx.extra`). */
interface SocketExtra {
  readonly socket: WebSocket;
  readonly request: IncomingMessage;
  /** Its slot: pending until `connection_init` is accepted, then streaming. */
  readonly slot: PendingSlot;
  /** Closes the socket, and cuts it if the client does not answer in time. */
  readonly close: (code: number, reason: string) => void;
}

type WsContext = Context<Record<string, unknown> | undefined, SocketExtra>;

/**
 * A message's text. ws hands over a Buffer (its default binaryType, which these sockets keep); the
 * other shapes of its type are decoded the same way rather than stringified as objects.
 */
function messageText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString();
  return Array.isArray(data) ? Buffer.concat(data).toString() : Buffer.from(data).toString();
}

/** The message types a client may send (graphql-transport-ws); `next`, `error` and the acks are the server's. */
const CLIENT_MESSAGE_TYPES: ReadonlySet<string> = new Set([
  MessageType.ConnectionInit,
  MessageType.Ping,
  MessageType.Pong,
  MessageType.Subscribe,
  MessageType.Complete,
]);

/**
 * The type of a well-formed message that a client may not send, or undefined. Malformed
 * messages are graphql-ws's to refuse (it closes with 4400 itself).
 */
export function unexpectedMessageType(text: string): string | undefined {
  let message: { type: string };
  try {
    message = parseMessage(text);
  } catch {
    return undefined;
  }
  return CLIENT_MESSAGE_TYPES.has(message.type) ? undefined : message.type;
}

/**
 * Serves graphql-ws on `path` of `httpServer`: each operation is parsed, validated and executed
 * with the functions `yoga.getEnveloped` returns for it, and its context is yoga's context with
 * the socket's {@link Caller} as `bosunCaller`.
 */
export function attachGraphQLWs(options: AttachGraphQLWsOptions): GraphQLWsServer {
  const { httpServer, yoga, path, logger } = options;
  const auth = options.auth ?? new TokenAuth();
  const origins = options.origins ?? new OriginPolicy();
  const slots = options.slots ?? new StreamingSlots({ maxStreams: 500, maxPendingPerAddress: 16 });
  const ownRefusals = options.refusals === undefined;
  const refusals = options.refusals ?? new LogSummary({ logger, level: 'info', summary: 'Connections refused' });
  const socketErrors = new LogSummary({ logger, level: 'warn', summary: 'graphql-ws socket errors' });
  const keepAliveMs = options.keepAliveMs ?? 12_000;
  const wsServer = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD_BYTES, handleProtocols });
  let closing = false;

  /** The enveloped functions of each operation, by its execution args. */
  const operations = new WeakMap<ExecutionArgs, Enveloped>();
  const envelopedFor = (args: ExecutionArgs): Enveloped => {
    const enveloped = operations.get(args);
    if (!enveloped) throw new Error('graphql-ws: execution args that onSubscribe did not prepare');
    return enveloped;
  };
  const remoteOf = (ctx: WsContext): string | undefined => ctx.extra.request.socket.remoteAddress;
  const authenticate = (ctx: WsContext): Caller | undefined => auth.authenticate(connectionParamsToken(ctx.connectionParams));

  const server = makeServer<Record<string, unknown> | undefined, SocketExtra>({
    // Envelop types results loosely (incremental delivery included); graphql-ws sends them as they are.
    execute: (args) => envelopedFor(args).execute(args) as OperationResult,
    subscribe: (args) => envelopedFor(args).subscribe(args) as OperationResult,
    // graphql-ws's default, stated: a pending socket holds a pending slot this long at most.
    connectionInitWaitTimeout: WS_INIT_TIMEOUT_MS,
    onConnect: (ctx) => {
      if (!authenticate(ctx)) {
        refusals.note('graphql-ws connection refused: no valid token in connectionParams.authorization', { remote: remoteOf(ctx) });
        return false;
      }
      if (!ctx.extra.slot.promote()) {
        refusals.note(`graphql-ws connection refused: ${WS_STREAMS_FULL_CLOSE.reason}`, { remote: remoteOf(ctx) });
        // graphql-ws then closes with 4403, which the socket, already closing, ignores.
        ctx.extra.close(WS_STREAMS_FULL_CLOSE.code, WS_STREAMS_FULL_CLOSE.reason);
        return false;
      }
      logger.debug({ remote: remoteOf(ctx) }, 'graphql-ws client connected');
      return true;
    },
    onSubscribe: async (ctx, _id, payload) => {
      const caller = authenticate(ctx);
      if (!caller) {
        ctx.extra.close(CloseCode.Forbidden, 'Forbidden');
        return [toGraphQLError(new BosunError('UNAUTHENTICATED', 'Authentication required'))];
      }
      // graphql-ws has registered this operation already.
      if (Object.keys(ctx.subscriptions).length > MAX_OPERATIONS_PER_SOCKET) {
        return [toGraphQLError(new BosunError('RATE_LIMITED', `At most ${MAX_OPERATIONS_PER_SOCKET} operations may run at once on one connection`))];
      }
      const enveloped: Enveloped = yoga.getEnveloped({
        ...ctx,
        req: ctx.extra.request,
        socket: ctx.extra.socket,
        params: payload,
        bosunCaller: caller,
      });
      let document: DocumentNode;
      try {
        document = enveloped.parse(payload.query);
        const errors = enveloped.validate(enveloped.schema, document);
        if (errors.length > 0) return errors;
      } catch (error) {
        // A syntax error, or a limit hit while parsing, goes back as the operation's error.
        if (isGraphQLError(error)) return [error];
        throw error;
      }
      const args: ExecutionArgs = {
        schema: enveloped.schema,
        document,
        operationName: payload.operationName ?? null,
        variableValues: payload.variables ?? null,
        contextValue: await enveloped.contextFactory(),
      };
      operations.set(args, enveloped);
      return args;
    },
    // What yoga leaves out of HTTP answers (`extensions.http`) is left out here too.
    onNext: (_ctx, _id, _payload, _args, result) =>
      result.errors ? { ...result, errors: result.errors.map((error) => publicErrorJson(error)) } : undefined,
    onError: (_ctx, _id, _payload, errors) => errors.map((error) => publicErrorJson(error)),
    onClose: (_ctx, code, reason) => {
      logger.debug({ code, reason }, 'graphql-ws client closed');
    },
  });

  /** Serves a socket that has completed the handshake, holding `slot` (released when its TCP socket closes). */
  const serve = (socket: WebSocket, request: IncomingMessage, slot: PendingSlot): void => {
    const remote = request.socket.remoteAddress;
    let cut: NodeJS.Timeout | undefined;
    const close = (code: number, reason: string): void => {
      if (socket.readyState === WebSocket.CLOSED) return;
      socket.close(code, reason);
      // A client that does not answer the close frame (or cannot: it reads nothing) is cut.
      cut ??= setTimeout(() => socket.terminate(), WS_CLOSE_GRACE_MS);
    };
    socket.once('error', (error) => {
      socketErrors.note('graphql-ws socket error', { err: error, remote });
      close(CloseCode.InternalServerError, 'Internal server error');
    });
    let pongWait: NodeJS.Timeout | undefined;
    const ping = setInterval(() => {
      if (socket.readyState !== WebSocket.OPEN || pongWait) return;
      pongWait = setTimeout(() => socket.terminate(), keepAliveMs);
      socket.once('pong', () => {
        clearTimeout(pongWait);
        pongWait = undefined;
      });
      socket.ping();
    }, keepAliveMs);
    const send = backpressuredSend(socket, {
      softBytes: WS_SOFT_BUFFER_BYTES,
      hardBytes: WS_HARD_BUFFER_BYTES,
      onTooSlow: (bufferedBytes) => {
        logger.warn({ remote, bufferedBytes }, `graphql-ws client closed: ${WS_TOO_SLOW_CLOSE.reason}`);
        // Its close frame waits behind everything it did not read: the grace is all it gets.
        close(WS_TOO_SLOW_CLOSE.code, WS_TOO_SLOW_CLOSE.reason);
      },
    });
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send,
        // graphql-ws closes with this, e.g. 4408 when no connection_init came in time.
        close,
        onMessage: (handle) =>
          socket.on('message', (data) => {
            const text = messageText(data);
            const unexpected = unexpectedMessageType(text);
            if (unexpected !== undefined) {
              // graphql-ws throws at a message only a server sends, which would close with 4500
              // and log its stack; the protocol says 4400, and it is the client's fault.
              refusals.note(`graphql-ws client closed: unexpected message of type ${unexpected}`, { remote });
              close(CloseCode.BadRequest, `Unexpected message of type ${unexpected} received`);
              return;
            }
            // handle is graphql-ws's async handler: a failure is a rejection, caught here.
            handle(text).catch((error: unknown) => {
              logger.error({ err: error, remote }, 'graphql-ws: handling a message failed');
              close(CloseCode.InternalServerError, 'Internal server error');
            });
          }),
      },
      { socket, request, slot, close },
    );
    socket.once('close', (code, reason) => {
      clearInterval(ping);
      clearTimeout(pongWait);
      clearTimeout(cut);
      closed(code, reason.toString()).catch((error: unknown) => logger.error({ err: error }, 'graphql-ws: closing a socket failed'));
    });
  };

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const remote = request.socket.remoteAddress;
    const refusal = checkUpgrade(request, { path, origins, authEnabled: auth.enabled, closing });
    if (refusal) {
      refusals.note(`WebSocket upgrade refused: ${refusal.message}`, { remote, status: refusal.status, origin: request.headers.origin });
      refuseUpgrade(socket, refusal);
      return;
    }
    const opened = slots.openPending(remote);
    if (!opened.ok) {
      refusals.note(`WebSocket upgrade refused: ${opened.message}`, { remote, status: 503 });
      refuseUpgrade(socket, { status: 503, message: opened.message });
      return;
    }
    // Whatever becomes of the handshake (ws answers a bad one with 400 itself), the slot is
    // free again once the connection is gone.
    if (socket.destroyed) {
      opened.slot.release();
      return;
    }
    socket.once('close', () => opened.slot.release());
    wsServer.handleUpgrade(request, socket, head, (ws) => serve(ws, request, opened.slot));
  };
  httpServer.on('upgrade', onUpgrade);

  let disposing: Promise<void> | undefined;
  return {
    wsServer,
    dispose(graceMs = 2_000) {
      disposing ??= (async () => {
        closing = true;
        const terminate = setTimeout(() => {
          for (const socket of wsServer.clients) socket.terminate();
        }, graceMs);
        try {
          for (const socket of wsServer.clients) socket.close(1001, 'Going away');
          // Resolves once every socket has closed.
          await new Promise<void>((resolve) => wsServer.close(() => resolve()));
        } finally {
          clearTimeout(terminate);
          httpServer.off('upgrade', onUpgrade);
          socketErrors.dispose();
          if (ownRefusals) refusals.dispose();
        }
      })();
      return disposing;
    },
  };
}
