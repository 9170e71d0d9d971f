/**
 * The roll of nodes in PostgreSQL: the `nodes` table (pg-migrations.ts, second entry), one row a
 * name. Every time is the server's `now()`, so that nodes with clocks apart still agree on who
 * is alive. A join and a claim of the same name take the same advisory lock (`node:<name>`):
 * two nodes joining under one name are told apart one after the other, and a dead node that
 * comes back waits for the node handling its death to finish.
 */
import { BosunError } from '../../errors.js';
import type {
  ClaimResult,
  ExpiredNodeHandler,
  NodeContainerSummary,
  NodeFigures,
  NodeHealth,
  NodeIdentity,
  NodeInfo,
  NodeJoin,
  NodeStore,
} from '../../cluster/node-registry.js';
import type { PostgresDatabase } from './pg-database.js';

interface NodeRow {
  name: string;
  instance_id: string;
  url: string | null;
  capacity: number;
  engine_version: string | null;
  started_at: Date;
  last_seen_at: Date;
  running: number;
  container_health: NodeContainerSummary;
  recommended_concurrency: number | null;
  stopped_at: Date | null;
  incarnation: string;
  reachable: boolean;
  handled: boolean;
  silent_ms: number;
}

/** `$n` milliseconds ago, by the server's clock. */
const ago = (param: string) => `now() - ${param}::double precision * interval '1 millisecond'`;

/** The rows and what the server says of them, for a lease of `lease` ms (a parameter). */
const selectNodes = (lease: string) => `
  SELECT n.name, n.instance_id, n.url, n.capacity, n.engine_version, n.started_at, n.last_seen_at,
         n.running, n.container_health, n.recommended_concurrency, n.stopped_at, n.incarnation,
         (n.stopped_at IS NULL AND n.last_seen_at > ${ago(lease)}) AS reachable,
         (n.expiry_handled_incarnation IS NOT DISTINCT FROM n.incarnation) AS handled,
         extract(epoch FROM now() - n.last_seen_at)::double precision * 1000 AS silent_ms
  FROM nodes n`;

/**
 * Expired nodes ($1 the lease) as judged by the live node `$2` of incarnation `$3`: a node judges
 * only once it has been heartbeating for a whole lease itself.
 */
const SELECT_EXPIRED = `${selectNodes('$1')}
  WHERE n.stopped_at IS NULL AND n.last_seen_at <= ${ago('$1')}
    AND n.expiry_handled_incarnation IS DISTINCT FROM n.incarnation
    AND EXISTS (
      SELECT 1 FROM nodes me
      WHERE me.name = $2 AND me.incarnation = $3 AND me.stopped_at IS NULL
        AND me.expiry_handled_incarnation IS DISTINCT FROM me.incarnation
        AND me.last_seen_at > ${ago('$1')} AND me.live_since <= ${ago('$1')})`;

function toHealth(row: NodeRow): NodeHealth {
  return {
    name: row.name,
    instanceId: row.instance_id,
    url: row.url,
    reachable: row.reachable,
    running: row.running,
    capacity: row.capacity,
    engineVersion: row.engine_version,
    containers: row.container_health,
    recommendedConcurrency: row.recommended_concurrency,
    startedAt: row.started_at,
    lastSeenAt: row.last_seen_at,
    stoppedAt: row.stopped_at,
  };
}

function lockName(name: string): string {
  return `node:${name}`;
}

/** {@link NodeStore} on bosun's PostgreSQL database. */
export class PgNodeRegistry implements NodeStore {
  constructor(private readonly db: PostgresDatabase) {}

  join(info: NodeInfo, figures: NodeFigures, leaseMs: number, signal?: AbortSignal): Promise<NodeJoin> {
    return this.db.withAdvisoryLock(
      lockName(info.name),
      async () => {
        const { rows } = await this.db.query<NodeRow>(`${selectNodes('$2')} WHERE n.name = $1`, [info.name, leaseMs]);
        const previous = rows[0];
        if (previous?.reachable && previous.instance_id !== info.instanceId) {
          throw new BosunError(
            'INVALID_STATE',
            `the node name "${info.name}" is held by a live node (instance ${previous.instance_id}, last heard of ${Math.round(previous.silent_ms)} ms ago): ` +
              `give this node another BOSUN_NODE_NAME, or stop the other one (a dead node's name is free ${leaseMs} ms after its last heartbeat)`,
          );
        }
        const inserted = await this.db.query<{ incarnation: string }>(
          `INSERT INTO nodes AS n (name, instance_id, url, capacity, engine_version, running, container_health, recommended_concurrency)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (name) DO UPDATE SET
             instance_id = EXCLUDED.instance_id, url = EXCLUDED.url, capacity = EXCLUDED.capacity,
             engine_version = EXCLUDED.engine_version, running = EXCLUDED.running,
             container_health = EXCLUDED.container_health, recommended_concurrency = EXCLUDED.recommended_concurrency,
             started_at = now(), last_seen_at = now(),
             live_since = now(), stopped_at = NULL, incarnation = n.incarnation + 1
           RETURNING incarnation`,
          [
            info.name,
            info.instanceId,
            info.url,
            info.capacity,
            info.engineVersion,
            figures.running,
            JSON.stringify(figures.containers),
            figures.recommendedConcurrency,
          ],
        );
        return {
          self: { name: info.name, incarnation: Number(inserted.rows[0]!.incarnation) },
          previous: previous ? toHealth(previous) : null,
          previousUnhandled: previous !== undefined && previous.stopped_at === null && !previous.handled,
        };
      },
      signal,
    );
  }

  async beat(self: NodeIdentity, figures: NodeFigures, leaseMs: number): Promise<boolean> {
    // SET reads the row as it was: a beat after a silence past the lease starts a new live_since.
    const { rowCount } = await this.db.query(
      `UPDATE nodes SET
         live_since = CASE WHEN last_seen_at <= ${ago('$3')} THEN now() ELSE live_since END,
         last_seen_at = now(), running = $4, container_health = $5, recommended_concurrency = $6
       WHERE name = $1 AND incarnation = $2 AND stopped_at IS NULL
         AND expiry_handled_incarnation IS DISTINCT FROM incarnation`,
      [self.name, self.incarnation, leaseMs, figures.running, JSON.stringify(figures.containers), figures.recommendedConcurrency],
    );
    return rowCount === 1;
  }

  async leave(self: NodeIdentity): Promise<void> {
    await this.db.query('UPDATE nodes SET stopped_at = now(), last_seen_at = now(), running = 0 WHERE name = $1 AND incarnation = $2', [
      self.name,
      self.incarnation,
    ]);
  }

  async list(leaseMs: number): Promise<NodeHealth[]> {
    const { rows } = await this.db.query<NodeRow>(`${selectNodes('$1')} ORDER BY n.name`, [leaseMs]);
    return rows.map(toHealth);
  }

  async expired(self: NodeIdentity, leaseMs: number): Promise<NodeHealth[]> {
    const { rows } = await this.db.query<NodeRow>(`${SELECT_EXPIRED} ORDER BY n.name`, [leaseMs, self.name, self.incarnation]);
    return rows.map(toHealth);
  }

  async claimExpired<T>(self: NodeIdentity, name: string, leaseMs: number, fn: ExpiredNodeHandler<T>, signal?: AbortSignal): Promise<ClaimResult<T>> {
    signal?.throwIfAborted();
    // A handler always gets a signal; without the caller's, one that never aborts.
    const handlerSignal = signal ?? new AbortController().signal;
    const result = await this.db.tryWithAdvisoryLock(lockName(name), async (): Promise<ClaimResult<T>> => {
      // Checked under the lock: a node that handled it before us has marked it.
      const { rows } = await this.db.query<NodeRow>(`${SELECT_EXPIRED} AND n.name = $4`, [leaseMs, self.name, self.incarnation, name]);
      const row = rows[0];
      if (!row) return { claimed: false };
      const value = await fn(toHealth(row), handlerSignal);
      // This life only: a rejoin under the lock's wait is another incarnation, not handled.
      await this.db.query('UPDATE nodes SET expiry_handled_incarnation = incarnation WHERE name = $1 AND incarnation = $2', [name, row.incarnation]);
      return { claimed: true, value };
    });
    return result.acquired ? result.value : { claimed: false };
  }
}
