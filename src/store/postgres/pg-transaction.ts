/**
 * What every PostgreSQL store file shares: transactions on a pooled connection and the
 * namespace of bosun's advisory locks.
 */
import type pg from 'pg';

/**
 * The first key of bosun's two-key advisory locks (`pg_advisory_lock(int, int)`): the second is
 * the lock's name hashed by the server. Other applications on the same database use other first
 * keys, or the one-key form, and so never meet bosun's locks.
 */
export const ADVISORY_LOCK_NAMESPACE = 0x626f736b; // "bosk"

/**
 * A transaction on one pooled connection: committed when `fn` resolves, rolled back when it
 * throws. A connection whose rollback fails (the server went away) is closed, not returned to the
 * pool.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const stopWatching = watchCheckedOut(client, (error) => (broken = error));
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken = asError(rollbackError);
    }
    throw error;
  } finally {
    stopWatching();
    client.release(broken);
  }
}

/**
 * Listens for the errors of a client taken from the pool: the pool listens only while a client
 * is idle, and a connection that dies between two statements of its holder (the server killed or
 * restarted) emits 'error' with nobody listening, which would end the process. The error is
 * given to `onError` instead (the holder closes the client on release); the returned function
 * stops listening.
 */
export function watchCheckedOut(client: pg.PoolClient, onError: (error: Error) => void): () => void {
  client.on('error', onError);
  return () => client.off('error', onError);
}

export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
