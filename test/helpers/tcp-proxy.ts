/**
 * A TCP proxy on loopback in front of a real server (PostgreSQL), that a test can cut and restore:
 * to the one process pointed at it the server goes away (its connections reset, new ones refused
 * at once) while every other client keeps reaching the server itself.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy implements AsyncDisposable {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private cut = false;
  #port = 0;

  constructor(private readonly target: { readonly host: string; readonly port: number }) {}

  /** Where clients connect (valid once {@link start} resolved). */
  get port(): number {
    return this.#port;
  }

  /** Starts forwarding, on a free port of loopback. */
  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => {
      if (this.cut) {
        // As a host the network cut off from the server: the connection is reset at once.
        client.resetAndDestroy();
        return;
      }
      const upstream = createConnection(this.target);
      this.sockets.add(client).add(upstream);
      const forget = () => {
        this.sockets.delete(client);
        this.sockets.delete(upstream);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', forget).on('error', forget);
      upstream.on('close', forget).on('error', forget);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    this.#port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Resets every connection through the proxy and refuses new ones until {@link restore}. */
  cutOff(): void {
    this.cut = true;
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
  }

  /** New connections reach the server again. */
  restore(): void {
    this.cut = false;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
