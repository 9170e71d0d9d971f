/**
 * Throw-away Redis and PostgreSQL servers for the cluster tests (issue 17): each started on
 * loopback, on a free port, with a data directory of its own in the temp dir, and removed by
 * `stop()`. Debian's binaries are installed (never started) by `scripts/setup.sh --with-cluster`.
 *
 * Both can be killed (SIGKILL, as a crashed host) and started again on the same port and data
 * directory, which the tests of a Redis restart and of PostgreSQL outages need. A server still
 * running when the test process exits is killed with it (a crashed test leaves no server behind).
 *
 * PostgreSQL refuses to run as root: when the tests run as root, its data directory is given to
 * the `postgres` system user (Debian's package creates it) and the server runs as that user.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './child-server.js';

/** A server of a test: where it listens, and how to stop, crash and start it again. */
export interface TestServer {
  /** `redis://127.0.0.1:<port>` or `postgres://bosun@127.0.0.1:<port>/postgres`. */
  readonly url: string;
  readonly port: number;
  /** Its data directory (kept across {@link restart}, removed by {@link stop}). */
  readonly dataDir: string;
  /** Stops it (a clean shutdown, SIGKILL after 10 s) and removes its data directory. Idempotent. */
  stop(): Promise<void>;
  /** Kills it with SIGKILL, as a crashed host; its data directory stays for {@link restart}. */
  kill9(): Promise<void>;
  /** Stops it cleanly, keeping its data directory; {@link restart} starts it again. */
  halt(): Promise<void>;
  /** Starts it again (after {@link kill9} or {@link halt}, or stops it cleanly first) on the same port and data. */
  restart(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;
const START_ATTEMPTS = 5;
const STOP_TIMEOUT_MS = 10_000;
const POSTGRES_VERSIONS_DIR = '/usr/lib/postgresql';
const PREFERRED_POSTGRES = '15';

/** Every server process still running, killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const server of running) server.kill('SIGKILL');
  });
}

/** The directory of PostgreSQL's server binaries: 15's when installed, else the newest version's. */
export function postgresBinDir(): string {
  const versions = existsSync(POSTGRES_VERSIONS_DIR)
    ? readdirSync(POSTGRES_VERSIONS_DIR).filter((name) => existsSync(join(POSTGRES_VERSIONS_DIR, name, 'bin', 'initdb')))
    : [];
  const version = versions.includes(PREFERRED_POSTGRES) ? PREFERRED_POSTGRES : versions.sort((a, b) => Number(b) - Number(a))[0];
  if (version === undefined) {
    throw new Error(`no PostgreSQL server in ${POSTGRES_VERSIONS_DIR}/<version>/bin: run scripts/setup.sh --with-cluster (Debian's postgresql)`);
  }
  return join(POSTGRES_VERSIONS_DIR, version, 'bin');
}

/** The uid and gid PostgreSQL runs as: the `postgres` system user when we are root, else ourselves. */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error("tests run as root, and PostgreSQL refuses root: create the postgres system user (Debian's postgresql package does)");
  }
  return { uid: Number(uid), gid: Number(gid) };
}

function chownTree(path: string, owner: { uid: number; gid: number }): void {
  chownSync(path, owner.uid, owner.gid);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) chownTree(child, owner);
    else chownSync(child, owner.uid, owner.gid);
  }
}

/** Runs a command to its end; rejects with its output when it fails. */
function run(command: string, args: readonly string[], owner?: { uid: number; gid: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...owner });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} ended with ${code ?? signal}: ${output.trim()}`));
    });
  });
}

/** Waits for a child to exit; true when it did within `timeoutMs`. */
async function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  const ac = new AbortController();
  const exit = new Promise<boolean>((resolve) => child.once('exit', () => resolve(true)));
  const timeout = sleep(timeoutMs, false, { signal: ac.signal }).catch(() => false);
  const result = await Promise.race([exit, timeout]);
  ac.abort();
  return result;
}

interface ServerProcessOptions {
  readonly name: string;
  readonly dataDir: string;
  readonly port: number;
  readonly url: string;
  /** Spawns the server (in the foreground, so that its pid is the server's). */
  readonly spawnServer: () => ChildProcess;
  /** Resolves once the server answers. */
  readonly ready: (signal: AbortSignal) => Promise<void>;
  /** The signal of a clean, quick shutdown. */
  readonly stopSignal: NodeJS.Signals;
}

class ExitedEarlyError extends Error {}

/** One server process, started, stopped and killed as {@link TestServer} says. */
class ServerProcess implements TestServer {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  #child: ChildProcess | undefined;
  #output = '';
  #removed = false;

  constructor(private readonly options: ServerProcessOptions) {
    this.url = options.url;
    this.port = options.port;
    this.dataDir = options.dataDir;
  }

  /**
   * Starts the server; when it exits before it answers, tries again a few times: after a kill -9,
   * PostgreSQL's old backends may hold their shared memory for a moment, and the new postmaster
   * refuses to start until they are gone.
   */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.#startOnce();
        return;
      } catch (error) {
        if (!(error instanceof ExitedEarlyError) || attempt === START_ATTEMPTS) throw error;
        await sleep(250 * attempt);
      }
    }
  }

  async #startOnce(): Promise<void> {
    if (this.#removed) throw new Error(`${this.options.name} was stopped and its data removed`);
    if (this.#child) return;
    this.#output = '';
    const child = this.options.spawnServer();
    track(child);
    this.#child = child;
    child.stdout?.on('data', (chunk: Buffer) => this.#remember(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.#remember(chunk));
    const died = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) =>
        reject(new ExitedEarlyError(`${this.options.name} exited (${code ?? signal}) before it answered: ${this.#output.trim()}`)),
      );
      child.once('error', reject);
    });
    died.catch(() => undefined);
    const ac = new AbortController();
    const timer = setTimeout(
      () => ac.abort(new Error(`${this.options.name} did not answer within ${READY_TIMEOUT_MS} ms: ${this.#output.trim()}`)),
      READY_TIMEOUT_MS,
    );
    try {
      await Promise.race([this.options.ready(ac.signal), died]);
    } catch (error) {
      await this.#end('SIGKILL');
      throw error;
    } finally {
      clearTimeout(timer);
      ac.abort();
    }
  }

  async stop(): Promise<void> {
    await this.halt();
    if (this.#removed) return;
    this.#removed = true;
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  halt(): Promise<void> {
    return this.#end(this.options.stopSignal);
  }

  kill9(): Promise<void> {
    return this.#end('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.halt();
    await this.start();
  }

  async #end(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill(signal);
    if (!(await exited(child, STOP_TIMEOUT_MS))) {
      child.kill('SIGKILL');
      await exited(child, STOP_TIMEOUT_MS);
    }
    this.#child = undefined;
  }

  #remember(chunk: Buffer): void {
    // The last few KiB are enough to say why it failed.
    this.#output = (this.#output + chunk.toString()).slice(-4096);
  }
}

/** Resolves once `port` on loopback answers `probe` with a reply `accept` takes; retries until `signal` aborts. */
async function waitForReply(port: number, probe: string, accept: (reply: string) => boolean, signal: AbortSignal): Promise<void> {
  for (;;) {
    signal.throwIfAborted();
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      let reply = '';
      socket.setTimeout(1_000, () => socket.destroy());
      socket.once('connect', () => socket.write(probe));
      socket.on('data', (chunk: Buffer) => {
        reply += chunk.toString('latin1');
        if (accept(reply)) {
          socket.destroy();
          resolve(true);
        }
      });
      socket.once('error', () => resolve(false));
      socket.once('close', () => resolve(accept(reply)));
    });
    if (ok) return;
    await sleep(50, undefined, { signal }).catch(() => undefined);
  }
}

export interface StartRedisOptions {
  /**
   * Keeps an append-only file, so that what Redis acknowledged survives a kill -9 (the file is
   * written before each reply; only a host crash could lose the unsynced tail). Default true.
   */
  readonly appendOnly?: boolean;
}

/** Starts a throw-away redis-server on loopback (see {@link TestServer}). */
export async function startRedis(options: StartRedisOptions = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bosun-redis-'));
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dataDir,
    '--save',
    '',
    '--appendonly',
    options.appendOnly === false ? 'no' : 'yes',
    '--appendfsync',
    'no',
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
  ];
  const server = new ServerProcess({
    name: `redis-server on port ${port}`,
    dataDir,
    port,
    url: `redis://127.0.0.1:${port}`,
    spawnServer: () => spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] }),
    // A PING answered +PONG: anything else (-LOADING while it reads its file) is not ready yet.
    ready: (signal) => waitForReply(port, 'PING\r\n', (reply) => reply.startsWith('+PONG'), signal),
    stopSignal: 'SIGTERM',
  });
  try {
    await server.start();
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

/**
 * Settings for a test server's speed, not for surviving a host crash (the data is thrown away): no
 * fsync, no full-page writes. Commits stay synchronous: a commit's WAL reaches the kernel before
 * the client hears of it, so what was committed survives a kill -9 of the server, as in
 * production. Enough connections for a few nodes' pools.
 */
const POSTGRES_SETTINGS = {
  fsync: 'off',
  full_page_writes: 'off',
  max_connections: '100',
  shared_buffers: '32MB',
  max_wal_size: '256MB',
  logging_collector: 'off',
  log_min_messages: 'warning',
};

/** Starts a throw-away PostgreSQL (superuser `bosun`, database `postgres`, trust auth on loopback; see {@link TestServer}). */
export async function startPostgres(): Promise<TestServer> {
  const bin = postgresBinDir();
  const owner = postgresUser();
  const root = mkdtempSync(join(tmpdir(), 'bosun-postgres-'));
  const dataDir = join(root, 'data');
  const socketDir = join(root, 'socket');
  mkdirSync(socketDir);
  if (owner) chownTree(root, owner);
  try {
    await run(join(bin, 'initdb'), ['-D', dataDir, '-U', 'bosun', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], owner);
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  const port = await freePort();
  const settings = Object.entries({ ...POSTGRES_SETTINGS, listen_addresses: '127.0.0.1', port: String(port), unix_socket_directories: socketDir });
  const args = ['-D', dataDir, ...settings.flatMap(([name, value]) => ['-c', `${name}=${value}`])];
  const server = new ServerProcess({
    name: `postgres on port ${port}`,
    dataDir: root,
    port,
    url: `postgres://bosun@127.0.0.1:${port}/postgres`,
    spawnServer: () => spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], ...owner }),
    ready: (signal) => waitForPostgres(port, signal),
    // SIGINT: PostgreSQL's fast shutdown (ends sessions, checkpoints); SIGTERM would wait for every client.
    stopSignal: 'SIGINT',
  });
  try {
    await server.start();
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

/**
 * Resolves once PostgreSQL accepts a session: a startup message for user bosun, answered by
 * AuthenticationOk ('R' with code 0) rather than an error ('E', e.g. "the database system is
 * starting up").
 */
function waitForPostgres(port: number, signal: AbortSignal): Promise<void> {
  const params = Buffer.from('user\0bosun\0database\0postgres\0\0', 'latin1');
  const startup = Buffer.alloc(8 + params.length);
  startup.writeInt32BE(startup.length, 0);
  startup.writeInt32BE(196608, 4); // protocol 3.0
  params.copy(startup, 8);
  return waitForReply(
    port,
    startup.toString('latin1'),
    (reply) => reply.length >= 9 && reply[0] === 'R' && Buffer.from(reply, 'latin1').readInt32BE(5) === 0,
    signal,
  );
}
