/**
 * A unix-socket proxy in front of the real Docker engine, that a test can switch off and on:
 * to bosun pointed at it (DOCKER_HOST=unix://<path>), the engine goes away and comes back,
 * without stopping the real engine that other tests use.
 */
import { rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

export class DockerProxy implements AsyncDisposable {
  readonly socketPath = join(tmpdir(), `bosun-docker-proxy-${randomUUID().slice(0, 8)}.sock`);
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** While true, new connections are accepted and then never answered: an engine that hangs. */
  private silent = false;

  /** New connections hang from now on; connections already open keep working. */
  silence(): void {
    this.silent = true;
  }

  /** New connections reach the engine again. */
  answer(): void {
    this.silent = false;
  }

  constructor(private readonly target = '/var/run/docker.sock') {}

  get dockerHost(): string {
    return `unix://${this.socketPath}`;
  }

  /** Starts forwarding connections to the engine. */
  async up(): Promise<void> {
    if (this.server) return;
    rmSync(this.socketPath, { force: true });
    const server = createServer((client) => {
      if (this.silent) {
        this.sockets.add(client);
        client.on('close', () => this.sockets.delete(client)).on('error', () => client.destroy());
        client.resume();
        return;
      }
      const engine = createConnection(this.target);
      this.sockets.add(client).add(engine);
      const forget = () => {
        this.sockets.delete(client);
        this.sockets.delete(engine);
        client.destroy();
        engine.destroy();
      };
      client.on('close', forget).on('error', forget);
      engine.on('close', forget).on('error', forget);
      client.pipe(engine).pipe(client);
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.socketPath, resolve));
    this.server = server;
  }

  /** Cuts every connection and refuses new ones, as a stopped engine would. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.down();
  }
}
