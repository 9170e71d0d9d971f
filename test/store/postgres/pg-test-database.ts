/**
 * One throw-away PostgreSQL per test file, migrated, with its tables emptied before each case
 * that asks for it: the cluster store tests' fixture.
 */
import { afterAll, beforeAll } from 'vitest';
import { PostgresDatabase } from '../../../src/store/postgres/pg-database.js';
import { startPostgres, type TestServer } from '../../helpers/cluster-servers.js';
import { createTestLogger } from '../../helpers/test-logger.js';

const TABLES = ['runs', 'logs', 'failure_groups', 'samples', 'alerts', 'peaks', 'artifacts', 'artifact_chunks'];

export interface PgTestDatabase {
  readonly server: TestServer;
  /** The file's database (migrated). */
  readonly db: PostgresDatabase;
  /** Another pool on the same database: another node. Closed after the file. */
  openAnother(options?: { statementTimeoutMs?: number; connectionTimeoutMs?: number }): Promise<PostgresDatabase>;
  /** Empties every table (identities start again). */
  empty(): Promise<void>;
}

/** Starts the file's PostgreSQL before its tests and stops it after them. */
export function usePgTestDatabase(): PgTestDatabase {
  let server: TestServer | undefined;
  let db: PostgresDatabase | undefined;
  const others: PostgresDatabase[] = [];
  beforeAll(async () => {
    server = await startPostgres();
    db = await PostgresDatabase.open({ url: server.url, logger: createTestLogger(), connectionTimeoutMs: 2_000 });
  });
  afterAll(async () => {
    for (const open of [db, ...others]) await open?.close();
    await server?.stop();
  });
  return {
    get server() {
      if (!server) throw new Error('PostgreSQL is not started yet');
      return server;
    },
    get db() {
      if (!db) throw new Error('PostgreSQL is not started yet');
      return db;
    },
    async openAnother(options = {}) {
      if (!server) throw new Error('PostgreSQL is not started yet');
      const other = await PostgresDatabase.open({ url: server.url, logger: createTestLogger(), ...options });
      others.push(other);
      return other;
    },
    async empty() {
      await this.db.query(`TRUNCATE ${TABLES.join(', ')} RESTART IDENTITY`);
    },
  };
}
