/**
 * graphql-ws (the graphql-transport-ws protocol) on the HTTP server's GraphQL path, executing
 * through yoga's envelop so that WebSocket operations get the same schema, context, plugins and
 * error masking as HTTP ones (yoga's "subscriptions/graphql-ws" recipe).
 */
import type { Server } from 'node:http';
import type { DocumentNode, ExecutionArgs, GraphQLError } from 'graphql';
import type { OperationResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import { isGraphQLError } from './mask-error.js';
import type { ServerLogger } from './server-logger.js';

export interface GraphQLWsServer {
  readonly wsServer: WebSocketServer;
  /**
   * Closes every socket with 1001 (Going away), which completes their subscriptions, and closes
   * the WebSocket server. Sockets that have not finished the closing handshake after `graceMs`
   * are terminated.
   */
  dispose(graceMs?: number): Promise<void>;
}

// Yoga's instance type is generic over its server and user contexts; this module needs neither.
type AnyYoga = YogaServerInstance<any, any>;
type Enveloped = ReturnType<AnyYoga['getEnveloped']>;

/**
 * Serves graphql-ws on `path` of `httpServer`: each operation is parsed, validated and executed
 * with the functions `yoga.getEnveloped` returns for it, and its context is yoga's context.
 */
export function attachGraphQLWs(options: {
  readonly httpServer: Server;
  readonly yoga: AnyYoga;
  readonly path: string;
  readonly logger: ServerLogger;
}): GraphQLWsServer {
  const { httpServer, yoga, path, logger } = options;
  const wsServer = new WebSocketServer({ server: httpServer, path });
  /** The enveloped functions of each operation, by its execution args. */
  const operations = new WeakMap<ExecutionArgs, Enveloped>();
  const envelopedFor = (args: ExecutionArgs): Enveloped => {
    const enveloped = operations.get(args);
    if (!enveloped) throw new Error('graphql-ws: execution args that onSubscribe did not prepare');
    return enveloped;
  };

  const disposable = useServer(
    {
      // Envelop types results loosely (incremental delivery included); graphql-ws sends them as they are.
      execute: (args) => envelopedFor(args).execute(args) as OperationResult,
      subscribe: (args) => envelopedFor(args).subscribe(args) as OperationResult,
      onSubscribe: async (ctx, _id, payload) => {
        const enveloped = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
        });
        let document: DocumentNode;
        try {
          document = enveloped.parse(payload.query);
        } catch (error) {
          // A syntax error goes back to the client as the operation's error.
          if (isGraphQLError(error)) return [error as GraphQLError];
          throw error;
        }
        const errors = enveloped.validate(enveloped.schema, document);
        if (errors.length > 0) return errors;
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
      onConnect: (ctx) => {
        logger.debug({ remote: ctx.extra.request.socket.remoteAddress }, 'graphql-ws client connected');
      },
      onClose: (_ctx, code, reason) => {
        logger.debug({ code, reason }, 'graphql-ws client closed');
      },
    },
    wsServer,
  );

  let disposing: Promise<void> | undefined;
  return {
    wsServer,
    dispose(graceMs = 2_000) {
      disposing ??= (async () => {
        const terminate = setTimeout(() => {
          for (const socket of wsServer.clients) socket.terminate();
        }, graceMs);
        try {
          // Sends 1001 to every client and resolves when the WebSocket server has closed.
          await disposable.dispose();
        } finally {
          clearTimeout(terminate);
        }
      })();
      return disposing;
    },
  };
}
