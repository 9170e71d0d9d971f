/**
 * The PostgreSQL schema of cluster mode, versioned like SQLite's (database.ts): each entry of
 * {@link PG_MIGRATIONS} upgrades version i to i + 1, and `schema_migrations` records each applied
 * version. Each migration runs once, in its own transaction, under a transaction-scoped advisory
 * lock: nodes that start at once queue on the lock, and each finds what the one before it did,
 * so the schema is migrated once whatever the timing. A database newer than this bosun is refused.
 *
 * The tables mirror SQLite's, in PostgreSQL's types: times are `timestamptz`, JSON is `jsonb`, a
 * run's key (`ord`) is an identity column (only grows, never reused). Differences where a cluster
 * needs them: samples have an identity `id` (SQLite's rowid) and an index by container; artifact
 * bytes are rows of `artifact_chunks` (every node serves them) instead of files beside the
 * database.
 */
import type pg from 'pg';
import { DatabaseOpenError } from '../database.js';
import { ADVISORY_LOCK_NAMESPACE, inTransaction } from './pg-transaction.js';

/** Append only; never edit a shipped one. */
export const PG_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
  );
  CREATE TABLE runs (
    ord            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             text NOT NULL UNIQUE,
    status         text NOT NULL,
    group_id       text NOT NULL,
    failure_reason text,
    error          text,
    group_json     jsonb NOT NULL,
    config_json    jsonb NOT NULL,
    container_id   text,
    exit_code      integer,
    steps_json     jsonb NOT NULL,
    queued_at      timestamptz NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz,
    retry_of       text,
    warm_start     boolean NOT NULL DEFAULT false
  );
  CREATE INDEX runs_status ON runs (status, ord);
  CREATE INDEX runs_group ON runs (group_id, ord);
  CREATE INDEX runs_finished_at ON runs (finished_at) WHERE finished_at IS NOT NULL;
  CREATE TABLE logs (
    run_id text NOT NULL,
    seq    integer NOT NULL,
    stream text NOT NULL,
    step   integer,
    line   text NOT NULL,
    at     timestamptz NOT NULL,
    PRIMARY KEY (run_id, seq)
  );
  CREATE TABLE failure_groups (
    id      text PRIMARY KEY,
    name    text NOT NULL,
    run_ids jsonb NOT NULL
  );
  CREATE TABLE samples (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id             text,
    container_id       text NOT NULL,
    at                 timestamptz NOT NULL,
    cpu_percent        double precision NOT NULL,
    memory_usage_bytes double precision NOT NULL,
    memory_limit_bytes double precision NOT NULL,
    memory_percent     double precision NOT NULL,
    pids               integer NOT NULL,
    pids_limit         integer
  );
  CREATE INDEX samples_run ON samples (run_id, at);
  CREATE INDEX samples_container ON samples (container_id, at);
  CREATE INDEX samples_at ON samples (at);
  CREATE TABLE alerts (
    id         text PRIMARY KEY,
    run_id     text,
    at         timestamptz NOT NULL,
    alert_json jsonb NOT NULL
  );
  CREATE INDEX alerts_run ON alerts (run_id, at);
  CREATE TABLE peaks (
    run_id       text PRIMARY KEY,
    cpu_percent  double precision NOT NULL,
    memory_bytes double precision NOT NULL,
    pids         integer NOT NULL
  );
  CREATE TABLE artifacts (
    run_id     text NOT NULL,
    path       text NOT NULL,
    size_bytes bigint NOT NULL,
    sha256     text NOT NULL,
    created_at timestamptz NOT NULL,
    blob_id    uuid NOT NULL,
    PRIMARY KEY (run_id, path)
  );
  CREATE TABLE artifact_chunks (
    blob_id    uuid NOT NULL,
    n          integer NOT NULL,
    run_id     text NOT NULL,
    bytes      bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blob_id, n)
  );
  CREATE INDEX artifact_chunks_run ON artifact_chunks (run_id);
  `,
  // The cluster's nodes (src/cluster/node-registry.ts). Times are the server's (now()), never a
  // node's clock. `incarnation` counts the joins under a name (an instance id may be set and kept
  // across restarts, so it cannot tell two lives of a node apart); `expiry_handled_incarnation`
  // marks the life whose death another node handled, once. `live_since` is when the node's
  // current unbroken run of heartbeats began: a node only judges the others once it has been
  // heartbeating for a lease itself, so that after a PostgreSQL outage nobody is declared dead
  // before it had a lease to beat again.
  `
  CREATE TABLE nodes (
    name                       text PRIMARY KEY,
    instance_id                text NOT NULL,
    url                        text,
    capacity                   integer NOT NULL,
    engine_version             text,
    started_at                 timestamptz NOT NULL DEFAULT now(),
    last_seen_at               timestamptz NOT NULL DEFAULT now(),
    live_since                 timestamptz NOT NULL DEFAULT now(),
    running                    integer NOT NULL DEFAULT 0,
    container_health           jsonb NOT NULL,
    stopped_at                 timestamptz,
    incarnation                bigint NOT NULL DEFAULT 1,
    expiry_handled_incarnation bigint
  );
  `,
  // AgentRun.node: the node that took the run; a node's recovery finds its own RUNNING runs by it.
  `
  ALTER TABLE runs ADD COLUMN node text;
  CREATE INDEX runs_unfinished_node ON runs (node) WHERE status IN ('QUEUED', 'RUNNING');
  `,
  // NodeHealth.recommendedConcurrency: the node's own concurrency advice as of its last heartbeat
  // (null until its first health check). Nodes of the version before write rows without it.
  `
  ALTER TABLE nodes ADD COLUMN recommended_concurrency integer;
  `,
];

/** The one advisory lock of migrations (transaction-scoped: released at each commit). */
const MIGRATION_LOCK = 1;

/**
 * Applies every pending migration, each once and in its own transaction (see the file's comment).
 * @throws DatabaseOpenError DATABASE_TOO_NEW when the database was migrated by a newer bosun; a
 * migration's error (its transaction rolled back).
 */
export async function migrate(pool: pg.Pool): Promise<void> {
  for (;;) {
    const done = await inTransaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [ADVISORY_LOCK_NAMESPACE, MIGRATION_LOCK]);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
      const current = await pgSchemaVersion(client);
      if (current > PG_MIGRATIONS.length) {
        throw new DatabaseOpenError(
          'DATABASE_TOO_NEW',
          'BOSUN_DB_URL',
          `the PostgreSQL database has schema version ${current}, newer than this bosun knows (${PG_MIGRATIONS.length}); upgrade bosun`,
        );
      }
      if (current === PG_MIGRATIONS.length) return true;
      await client.query(PG_MIGRATIONS[current]!);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [current + 1]);
      return current + 1 === PG_MIGRATIONS.length;
    });
    if (done) return;
  }
}

/** The newest applied migration (0 for a new database). */
export async function pgSchemaVersion(db: Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>): Promise<number> {
  const { rows } = await db.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
  return rows[0]?.version ?? 0;
}
