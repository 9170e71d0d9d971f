/**
 * bosun as a cluster (issue #17) for the `cluster` benchmarks: throw-away Redis and PostgreSQL
 * servers on loopback (the tests' own, test/helpers/cluster-servers.ts), and bosun nodes on them,
 * each its own child process (bench/servers/bosun-server.ts) with its own node name and instance
 * id, all on this machine's one Docker engine, each with a graphql-ws connection following every
 * run's updates.
 */
import { readFileSync } from 'node:fs';
import type { Client } from 'graphql-ws';
import { startPostgres, startRedis, type TestServer } from '../../test/helpers/cluster-servers.js';
import { startBosun, type BosunChild } from './bosun-child.js';
import { RunWatcher, wsClient } from './graphql.js';

/** The same limits bosun gives a sandbox by default, stated (docker-cli.ts's LIMIT_FLAGS are the CLI's). */
export const LIMITS_ENV = { DOCKER_CPU_LIMIT: '1', DOCKER_MEMORY_LIMIT: '2g', DOCKER_PIDS_LIMIT: '1000' } as const;

export interface ClusterStores {
  readonly redis: TestServer;
  readonly postgres: TestServer;
  /** Stops both and removes their data directories. */
  stop(): Promise<void>;
}

/** A fresh Redis and PostgreSQL, started side by side: a cluster with no history and an empty line. */
export async function startStores(): Promise<ClusterStores> {
  const [redis, postgres] = await Promise.allSettled([startRedis(), startPostgres()]);
  const stop = async () => {
    for (const server of [redis, postgres]) if (server.status === 'fulfilled') await server.value.stop();
  };
  if (redis.status === 'rejected' || postgres.status === 'rejected') {
    await stop();
    throw redis.status === 'rejected' ? redis.reason : (postgres as PromiseRejectedResult).reason;
  }
  return { redis: redis.value, postgres: postgres.value, stop };
}

/** A bosun process and a graphql-ws connection to it following every run's updates. */
export interface WatchedBosun {
  /** The node name (BOSUN_NODE_NAME), or `embedded`. */
  readonly name: string;
  readonly bosun: BosunChild;
  readonly client: Client;
  readonly watcher: RunWatcher;
}

/** Starts bosun with `env` and connects a {@link RunWatcher} to it; stops it again if the connection fails. */
export async function startWatched(name: string, env: Record<string, string>, profileDir: string | undefined): Promise<WatchedBosun> {
  const bosun = await startBosun({ env, profileDir });
  try {
    const client = wsClient(bosun.wsUrl);
    const watcher = new RunWatcher(client);
    await watcher.ready;
    return { name, bosun, client, watcher };
  } catch (error) {
    await bosun.stop();
    throw error;
  }
}

/** The environment of a cluster node on `stores`. */
export function nodeEnv(stores: ClusterStores, nodeName: string, env: Record<string, string>): Record<string, string> {
  return { REDIS_URL: stores.redis.url, BOSUN_DB_URL: stores.postgres.url, BOSUN_NODE_NAME: nodeName, ...LIMITS_ENV, ...env };
}

/** Closes the connections and stops the processes, one by one; returns how many containers had to be force-removed. */
export async function stopAll(sides: readonly WatchedBosun[]): Promise<number> {
  let left = 0;
  for (const side of sides) {
    side.watcher.close();
    await side.client.dispose();
    left += await side.bosun.stop();
  }
  return left;
}

/** Runs `during` with every process's profiler on (see {@link BosunChild.profiled}), each writing `<name>-<side>`. */
export function profiledAll<T>(sides: readonly WatchedBosun[], name: string, during: () => Promise<T>): Promise<T> {
  return sides.reduceRight<() => Promise<T>>((inner, side) => () => side.bosun.profiled(`${name}-${side.name}`, inner), during)();
}

/** The whole machine's CPU time so far from /proc/stat, in clock ticks: busy (everything but idle and iowait) and total. */
export function machineCpu(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** The share of the machine's CPU time that was busy between two {@link machineCpu} readings. */
export function busyShare(before: { busy: number; total: number }, after: { busy: number; total: number }): number {
  const total = after.total - before.total;
  return total <= 0 ? Number.NaN : (after.busy - before.busy) / total;
}
