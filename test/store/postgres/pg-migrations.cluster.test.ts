/**
 * PostgreSQL migrations: several nodes starting at once on a new database migrate it once, a
 * database migrated already is left as it is, and one migrated by a newer bosun is refused.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseOpenError } from '../../../src/store/database.js';
import { PostgresDatabase } from '../../../src/store/postgres/pg-database.js';
import { PG_MIGRATIONS, pgSchemaVersion } from '../../../src/store/postgres/pg-migrations.js';
import { startPostgres, type TestServer } from '../../helpers/cluster-servers.js';
import { createTestLogger } from '../../helpers/test-logger.js';

let server: TestServer;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server.stop();
});

/** A new, empty database on the server; resolves with its URL. */
async function newDatabase(name: string): Promise<string> {
  const admin = new pg.Client(server.url);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return server.url.replace(/\/postgres$/, `/${name}`);
}

describe('PostgreSQL migrations', () => {
  it('migrate a new database once when four nodes start on it at the same instant', async () => {
    const url = await newDatabase('four_nodes');
    const nodes = await Promise.all(Array.from({ length: 4 }, () => PostgresDatabase.open({ url, logger: createTestLogger() })));
    try {
      const { rows } = await nodes[0]!.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((row) => row.version)).toEqual(PG_MIGRATIONS.map((_, i) => i + 1));
      expect(await pgSchemaVersion(nodes[3]!.pool)).toBe(PG_MIGRATIONS.length);
      // Every node sees the one schema.
      for (const node of nodes) await node.query('SELECT count(*) FROM runs');
    } finally {
      for (const node of nodes) await node.close();
    }
  });

  it('leave a migrated database as it is when a node starts again', async () => {
    const url = await newDatabase('restart');
    const first = await PostgresDatabase.open({ url, logger: createTestLogger() });
    await first.query("INSERT INTO meta (key, value) VALUES ('kept', 'yes')");
    const { rows: before } = await first.query<{ applied_at: Date }>('SELECT applied_at FROM schema_migrations');
    await first.close();
    const again = await PostgresDatabase.open({ url, logger: createTestLogger() });
    try {
      expect((await again.query('SELECT value FROM meta')).rows).toEqual([{ value: 'yes' }]);
      expect((await again.query('SELECT applied_at FROM schema_migrations')).rows).toEqual(before);
    } finally {
      await again.close();
    }
  });

  it('refuse a database migrated by a newer bosun, with one line', async () => {
    const url = await newDatabase('too_new');
    const db = await PostgresDatabase.open({ url, logger: createTestLogger() });
    await db.query('INSERT INTO schema_migrations (version) VALUES ($1)', [PG_MIGRATIONS.length + 1]);
    await db.close();
    const opening = PostgresDatabase.open({ url, logger: createTestLogger() });
    await expect(opening).rejects.toBeInstanceOf(DatabaseOpenError);
    await expect(opening).rejects.toMatchObject({
      code: 'DATABASE_TOO_NEW',
      message: `the PostgreSQL database has schema version ${PG_MIGRATIONS.length + 1}, newer than this bosun knows (${PG_MIGRATIONS.length}); upgrade bosun`,
    });
  });

  it('fail to open, with the connection error, when nothing listens', async () => {
    const url = server.url.replace(`:${server.port}/`, ':1/');
    await expect(PostgresDatabase.open({ url, logger: createTestLogger(), connectionTimeoutMs: 2_000 })).rejects.toThrow(/ECONNREFUSED/);
  });
});
