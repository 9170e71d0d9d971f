/**
 * bosun's PostgreSQL database in cluster mode (issue 17): one bounded connection pool
 * (node-postgres) per node, the schema brought up to date at open (pg-migrations.ts), and the
 * advisory locks the nodes coordinate with (recovery of a dead node's runs, pruning).
 *
 * Every statement has a deadline (`statementTimeoutMs`, enforced by the server, and a client-side
 * query timeout a little longer for a server that does not answer at all), and so has getting a
 * connection (`connectionTimeoutMs`): a PostgreSQL that is down makes writes fail within seconds,
 * and the stores' health retries them, instead of requests piling up behind a dead socket.
 *
 * The pool reports errors of idle connections (the server restarted or was killed) as 'error'
 * events; they are logged here and the connection is dropped: the next query opens a new one.
 */
import pg from 'pg';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { migrate } from './pg-migrations.js';
import { ADVISORY_LOCK_NAMESPACE, asError, inTransaction, watchCheckedOut } from './pg-transaction.js';

export interface PostgresDatabaseOptions {
  /** `postgres://user:password@host:port/database` (BOSUN_DB_URL). */
  readonly url: string;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /**
   * Connections at most. Default 10: a node's stores write in batches (one write in flight per
   * kind of write), reads are short, and a PostgreSQL of 100 connections serves several nodes.
   */
  readonly maxConnections?: number;
  /** Longest wait for a connection (a new one, or a free one of the pool); default 5 s. */
  readonly connectionTimeoutMs?: number;
  /** A statement running longer is cancelled by the server; default 30 s. */
  readonly statementTimeoutMs?: number;
  /** An idle connection is closed after this long; default 30 s. */
  readonly idleTimeoutMs?: number;
  /** `application_name` of the sessions, shown in pg_stat_activity; default "bosun". */
  readonly applicationName?: string;
}

/** What a store needs to run statements: the database, or one client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
}

export class PostgresDatabase implements Queryable {
  readonly pool: pg.Pool;
  private closed = false;
  /**
   * Per advisory lock name, the last of this process's holders and waiters: they take turns here
   * first, so that one connection per name waits on the server. Waiting there, each would pin a
   * pooled connection, and as many waiters as the pool is large would leave the holder none for
   * its own queries (a node recording ten lost runs at once did).
   */
  private readonly localTurns = new Map<string, Promise<void>>();

  private constructor(private readonly options: PostgresDatabaseOptions) {
    const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
      idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
      statement_timeout: statementTimeoutMs,
      // The server cancels at statementTimeoutMs; this catches a server that does not answer at all.
      query_timeout: statementTimeoutMs + 5_000,
      application_name: options.applicationName ?? 'bosun',
      keepAlive: true,
    });
    this.pool.on('error', (error) => {
      options.logger.warn({ err: error }, `database: an idle connection failed (${errorMessage(error)}); it is replaced when next needed`);
    });
  }

  /**
   * Connects to the database at `options.url` and applies pending migrations (several nodes
   * starting at once migrate once: see pg-migrations.ts).
   * @throws the connection's or a migration's error; the pool is closed then.
   */
  static async open(options: PostgresDatabaseOptions): Promise<PostgresDatabase> {
    const db = new PostgresDatabase(options);
    try {
      await migrate(db.pool);
    } catch (error) {
      await db.close();
      throw error;
    }
    return db;
  }

  /** False once {@link close} was called. */
  get open(): boolean {
    return !this.closed;
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(sql, params);
  }

  /** Runs `fn` in a transaction on one connection: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, fn);
  }

  /**
   * Runs `fn` while this node holds the advisory lock `name`, waiting for another holder (of any
   * node) to release it; released when `fn` settles, or by the server if this node dies. What
   * the cluster's recovery takes so that two nodes starting at once do not recover the same runs
   * twice. The wait counts against the statement timeout; `signal` ends it sooner (the server
   * cancels the waiting statement) and rejects with its reason, `fn` not run.
   */
  async withAdvisoryLock<T>(name: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const result = await this.lockAndRun(name, fn, true, signal);
    // Waiting, the lock is always taken.
    return (result as { value: T }).value;
  }

  /**
   * Runs `fn` if the advisory lock `name` is free, holding it meanwhile; resolves
   * `{ acquired: false }` at once when another holder has it.
   */
  tryWithAdvisoryLock<T>(name: string, fn: () => Promise<T>): Promise<{ acquired: true; value: T } | { acquired: false }> {
    return this.lockAndRun(name, fn, false);
  }

  /** Closes every connection; pending queries fail. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /** {@link lockOnServer}, once this process's earlier holders and waiters of `name` are done (see {@link localTurns}). */
  private async lockAndRun<T>(
    name: string,
    fn: () => Promise<T>,
    wait: boolean,
    signal?: AbortSignal,
  ): Promise<{ acquired: true; value: T } | { acquired: false }> {
    signal?.throwIfAborted();
    const previous = this.localTurns.get(name);
    // Held (or awaited) in this process already: not free, whatever the server says.
    if (previous !== undefined && !wait) return { acquired: false };
    let done!: () => void;
    const turn = new Promise<void>((resolve) => (done = resolve));
    const last = previous === undefined ? turn : previous.then(() => turn);
    this.localTurns.set(name, last);
    try {
      if (previous !== undefined) await untilSettledOrAborted(previous, signal);
      return await this.lockOnServer(name, fn, wait, signal);
    } finally {
      done();
      if (this.localTurns.get(name) === last) this.localTurns.delete(name);
    }
  }

  private async lockOnServer<T>(
    name: string,
    fn: () => Promise<T>,
    wait: boolean,
    signal?: AbortSignal,
  ): Promise<{ acquired: true; value: T } | { acquired: false }> {
    signal?.throwIfAborted();
    // A session lock on a connection of its own, held while `fn` uses the pool as it likes.
    const client = await this.pool.connect();
    // A failure of the connection itself: it is closed rather than returned to the pool (which also releases the lock).
    let broken: Error | undefined;
    const stopWatching = watchCheckedOut(client, (error) => (broken = error));
    try {
      let acquired: boolean;
      // Cancels the waiting statement on the server, from another connection.
      let pid: number | undefined;
      const cancel = () => void this.pool.query('SELECT pg_cancel_backend($1)', [pid]).catch(() => undefined);
      signal?.addEventListener('abort', cancel, { once: true });
      try {
        // The session's pid, asked only when a cancel may need it.
        if (signal) pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
        signal?.throwIfAborted();
        const sql = wait ? 'SELECT pg_advisory_lock($1, hashtext($2)), true AS ok' : 'SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok';
        const { rows } = await client.query<{ ok: boolean }>(sql, [ADVISORY_LOCK_NAMESPACE, name]);
        acquired = rows[0]?.ok === true;
      } catch (error) {
        // A cancelled wait leaves a sound connection, but a cancel may still be on its way: close it.
        broken = asError(error);
        throw signal?.aborted ? signal.reason : error;
      } finally {
        signal?.removeEventListener('abort', cancel);
      }
      if (!acquired) return { acquired: false };
      try {
        // Aborted as the lock was granted: released below, and `fn` not run.
        signal?.throwIfAborted();
        return { acquired: true, value: await fn() };
      } finally {
        try {
          await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [ADVISORY_LOCK_NAMESPACE, name]);
        } catch (error) {
          broken = asError(error);
        }
      }
    } finally {
      stopWatching();
      client.release(broken);
    }
  }
}

/** Resolves when `turn` does; rejects with `signal`'s reason if it aborts first. */
function untilSettledOrAborted(turn: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return turn;
  signal.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    void turn.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
