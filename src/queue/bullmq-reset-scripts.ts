/**
 * The Lua scripts that make a Redis that came back without its data count the runs still running
 * (split from bullmq-scripts.ts, whose BullMQ facts they rely on too). Redis's count of running runs
 * is the length of the `active` list (BullMQ's global concurrency compares it with
 * `meta.concurrency`); after the loss the runs that went on running on their nodes are not in it, so
 * restored and new runs would start beside them above the cluster's limit. Two scripts put them back:
 *
 * - `hold`, by the first node that finds the loss: one entry in `active` for each run PostgreSQL has
 *   RUNNING, with a lock that lapses after a lease unless its node takes it over. It also marks the
 *   data set settled: until then `admit` refuses every run, so nothing starts before the holds are in.
 *   It writes a `bosun-reset` event, on which every node resyncs and takes its runs over (a
 *   FLUSHALL reconnects no node, so only the event tells the others). A node that starts runs it
 *   too, before it admits anything: on a data set no node settled yet (a cluster's first start, or
 *   a node back before the others found the loss) it holds what PostgreSQL has RUNNING.
 *   A hold whose node never takes it over (the node died, or the run ended meanwhile) lapses, and
 *   BullMQ's stalled check fails it (`maxStalledCount` 0): a failed job no mirror showed running, so
 *   nothing is recorded for it (a dead node's runs are the lease sweep's).
 * - `adopt`, by the node that runs the run: the job again, in `active`, under the lock token that the
 *   node's BullMQ worker still holds for it and renews. From then on it is an ordinary running job:
 *   the stalled check finds its lock, and the worker's completion takes it out (its `completed` /
 *   `failed` event frees the slot on every node).
 */
import type { Redis } from 'ioredis';
import { STREAM_EVENT, type QueueKeySet } from './bullmq-scripts.js';

/** Bounds the events stream as BullMQ does (its default `maxEvents`). */
const MAX_EVENTS = 10_000;

/** The lock value of a hold: no worker has it, so no worker's renewal or completion touches it. */
const HOLD_TOKEN = 'bosun:hold';

const HOLD = `
local activeKey, settledKey, eventsKey = KEYS[1], KEYS[2], KEYS[3]
local jobPrefix, holdMs, now = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', settledKey) == 1 then return -1 end
local held = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local jobKey = jobPrefix .. id
  if redis.call('EXISTS', jobKey) == 0 then
    redis.call('HSET', jobKey, 'name', 'run', 'data', '{}', 'opts', '{}', 'timestamp', now, 'processedOn', now, 'bosun:hold', '1')
    redis.call('SET', jobKey .. ':lock', '${HOLD_TOKEN}', 'PX', holdMs)
    redis.call('LPUSH', activeKey, id)
    held = held + 1
  end
end
redis.call('SET', settledKey, '1')
-- Every node resyncs on reading it, and takes its runs over: after a FLUSHALL none reconnected.
redis.call('XADD', eventsKey, 'MAXLEN', '~', ${MAX_EVENTS}, '*', 'event', '${STREAM_EVENT.reset}')
return held
`;

const ADOPT = `
local activeKey, nodesKey, eventsKey = KEYS[1], KEYS[2], KEYS[3]
local jobPrefix, id, token, lockMs, node, queuedAt, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local jobKey = jobPrefix .. id
if redis.call('EXISTS', jobKey) == 1 then
  -- Only a hold is taken over: another job of that id (put back as waiting) or a hold that lapsed
  -- (moved to be failed) is left as it is.
  if redis.call('HEXISTS', jobKey, 'bosun:hold') == 0 or redis.call('HEXISTS', jobKey, 'defa') == 1 then return 0 end
end
redis.call('HSET', jobKey, 'name', 'run', 'data', '{}', 'opts', '{}', 'timestamp', queuedAt, 'processedOn', now, 'pb', node)
redis.call('HDEL', jobKey, 'bosun:hold')
redis.call('SET', jobKey .. ':lock', token, 'PX', lockMs)
if not redis.call('LPOS', activeKey, id) then redis.call('LPUSH', activeKey, id) end
redis.call('HSET', nodesKey, id, node)
redis.call('XADD', eventsKey, 'MAXLEN', '~', ${MAX_EVENTS}, '*', 'event', 'bosun-running', 'jobId', id, 'node', node)
return 1
`;

interface ResetCommands {
  bosunHold(...args: Array<string | number>): Promise<number>;
  bosunAdopt(...args: Array<string | number>): Promise<number>;
}

/** The scripts of a Redis that came back without its data, bound to one connection and one queue's keys. */
export class ResetScripts {
  readonly #redis: Redis & ResetCommands;
  readonly #keys: QueueKeySet;

  constructor(redis: Redis, keys: QueueKeySet) {
    const commands: Array<[keyof ResetCommands, number, string]> = [
      ['bosunHold', 3, HOLD],
      ['bosunAdopt', 3, ADOPT],
    ];
    for (const [name, numberOfKeys, lua] of commands) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua });
    }
    this.#redis = redis as Redis & ResetCommands;
    this.#keys = keys;
  }

  /**
   * Holds a slot for each of `ids` (runs PostgreSQL has RUNNING) for `holdMs`, and marks the data set
   * settled, unless a node did already. Returns how many it held, or -1 when it was settled already.
   */
  async hold(ids: readonly string[], holdMs: number, now: number): Promise<number> {
    const k = this.#keys;
    return this.#redis.bosunHold(k.active, k.settled, k.events, k.jobPrefix, holdMs, now, ...ids);
  }

  /** Whether `id` is a slot held by {@link hold}, not a node's running job. */
  async isHold(id: string): Promise<boolean> {
    return (await this.#redis.hexists(`${this.#keys.jobPrefix}${id}`, 'bosun:hold')) === 1;
  }

  /**
   * Puts this node's running run `id` back as a running job under its worker's lock `token` (the
   * worker renews it from now on). False when Redis has another job of that id.
   */
  async adopt(
    id: string,
    lock: { readonly token: string; readonly lockMs: number },
    run: { readonly node: string; readonly queuedAt: number; readonly now: number },
  ): Promise<boolean> {
    const k = this.#keys;
    const adopted = await this.#redis.bosunAdopt(
      k.active,
      k.nodes,
      k.events,
      k.jobPrefix,
      id,
      lock.token,
      lock.lockMs,
      run.node,
      run.queuedAt,
      run.now,
    );
    return adopted === 1;
  }
}
