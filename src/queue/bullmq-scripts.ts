/**
 * The Lua scripts the BullMQ backend adds to BullMQ's own, each one atomic on the Redis server, so
 * that what several nodes do at once stays exact without locks of our own:
 * - `admit` refuses a run when the cluster's line is full (QUEUE_FULL is cluster-wide and never
 *   overshoots) or when the id is already known, and announces the run on the events stream before
 *   BullMQ adds it, with its `queuedAt` (BullMQ's `waiting` event carries only the id).
 * - `ticket` answers where an added run stands: LPOS on the wait list, with the counts, in one step.
 * - `leave` takes a waiting run out of the line (cancel, queue timeout) exactly once cluster-wide.
 * - `markRunning` / `claimLost` record which node runs a job and let exactly one node claim a dead
 *   node's job.
 * - `setLimit` changes the cluster's concurrency limit and tells every node.
 * - `snapshot` reads the whole line, the running jobs and the stream position at one instant.
 *
 * They rely on these BullMQ 6 facts (checked against 6.7.0's scripts): a job waits in the `wait`
 * list whether the queue is paused or not, added with LPUSH (RPUSH with `lifo`) and taken by workers
 * with RPOPLPUSH from the right, so the next to start is the last element; the job hash is
 * `<prefix>:<queue>:<id>` with the queue time in its `timestamp` field; a job moved back from a dead
 * node carries a `defa` field (its deferred failure); `meta.concurrency` is the global concurrency
 * and `paused` the pause flag; a member in the `marker` sorted set wakes blocked workers. The
 * scripts touch keys they derive from a prefix, so they need a single Redis server (not Redis Cluster).
 */
import type { Redis } from 'ioredis';

/** Events the scripts add to BullMQ's events stream; every node reads them in stream order. */
export const STREAM_EVENT = Object.freeze({
  admitted: 'bosun-admitted',
  left: 'bosun-left',
  running: 'bosun-running',
  limit: 'bosun-limit',
});

/** Bounds the events stream as BullMQ does (its default `maxEvents`). */
const MAX_EVENTS = 10_000;

const ADMIT = `
local waitKey, admittingKey, eventsKey = KEYS[1], KEYS[2], KEYS[3]
local jobPrefix, id, queuedAt, now, reserveMs, maxLength, front =
  ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
if redis.call('EXISTS', jobPrefix .. id) == 1 or redis.call('ZSCORE', admittingKey, id) then
  return {-1, 0}
end
redis.call('ZREMRANGEBYSCORE', admittingKey, '-inf', now)
-- A run between its admission and its add counts as waiting; once added it is in the list.
local pending = 0
for _, other in ipairs(redis.call('ZRANGE', admittingKey, 0, -1)) do
  if redis.call('EXISTS', jobPrefix .. other) == 0 then pending = pending + 1 end
end
local waiting = redis.call('LLEN', waitKey) + pending
if maxLength > 0 and waiting >= maxLength then return {-2, waiting} end
redis.call('ZADD', admittingKey, now + reserveMs, id)
redis.call('XADD', eventsKey, 'MAXLEN', '~', ${MAX_EVENTS}, '*', 'event', '${STREAM_EVENT.admitted}',
  'jobId', id, 'queuedAt', queuedAt, 'front', front)
return {1, waiting}
`;

const TICKET = `
local waitKey, activeKey, admittingKey = KEYS[1], KEYS[2], KEYS[3]
redis.call('ZREM', admittingKey, ARGV[1])
local length = redis.call('LLEN', waitKey)
local index = redis.call('LPOS', waitKey, ARGV[1])
local position = 0
if index then position = length - index end
return {position, redis.call('LLEN', activeKey), length}
`;

const ABANDON = `
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`;

const LEAVE = `
local waitKey, eventsKey = KEYS[1], KEYS[2]
local jobPrefix, id, reason = ARGV[1], ARGV[2], ARGV[3]
if redis.call('LREM', waitKey, 1, id) == 0 then return 0 end
redis.call('DEL', jobPrefix .. id, jobPrefix .. id .. ':logs')
redis.call('XADD', eventsKey, 'MAXLEN', '~', ${MAX_EVENTS}, '*', 'event', '${STREAM_EVENT.left}',
  'jobId', id, 'reason', reason)
return 1
`;

const MARK_RUNNING = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ${MAX_EVENTS}, '*', 'event', '${STREAM_EVENT.running}',
  'jobId', ARGV[1], 'node', ARGV[2])
return 1
`;

const CLAIM_LOST = `
local nodesKey, waitKey = KEYS[1], KEYS[2]
local jobPrefix, id = ARGV[1], ARGV[2]
local claimed = redis.call('HDEL', nodesKey, id)
-- The dead node's job went back to the head of the line to be failed by the next worker that takes
-- it; taking it out here keeps it off the line (and off every position) at once.
if claimed == 1 and redis.call('LREM', waitKey, 1, id) == 1 then
  redis.call('DEL', jobPrefix .. id, jobPrefix .. id .. ':logs')
end
return claimed
`;

const SET_LIMIT = `
local metaKey, waitKey, markerKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local limit, onlyIfUnset = tonumber(ARGV[1]), ARGV[2] == '1'
if onlyIfUnset and redis.call('HEXISTS', metaKey, 'bosun:limit') == 1 then
  return tonumber(redis.call('HGET', metaKey, 'bosun:limit'))
end
redis.call('HSET', metaKey, 'bosun:limit', limit)
if limit == 0 then redis.call('HDEL', metaKey, 'concurrency') else redis.call('HSET', metaKey, 'concurrency', limit) end
-- A raised limit must wake the workers blocked on the marker (BullMQ adds one only on add and finish).
if redis.call('LLEN', waitKey) > 0 then redis.call('ZADD', markerKey, 0, '0') end
redis.call('XADD', eventsKey, 'MAXLEN', '~', ${MAX_EVENTS}, '*', 'event', '${STREAM_EVENT.limit}', 'limit', limit)
return limit
`;

const SNAPSHOT = `
local waitKey, activeKey, metaKey, eventsKey, nodesKey, epochKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local jobPrefix, newEpoch = ARGV[1], ARGV[2]
redis.call('SET', epochKey, newEpoch, 'NX')
local waiting, queuedAt = {}, {}
local ids = redis.call('LRANGE', waitKey, 0, -1)
-- Next to start first: the right end of the list.
for i = #ids, 1, -1 do
  local id = ids[i]
  if string.sub(id, 1, 2) ~= '0:' and redis.call('HEXISTS', jobPrefix .. id, 'defa') == 0 then
    waiting[#waiting + 1] = id
    queuedAt[#queuedAt + 1] = redis.call('HGET', jobPrefix .. id, 'timestamp') or '0'
  end
end
local running, nodes = {}, {}
for _, id in ipairs(redis.call('LRANGE', activeKey, 0, -1)) do
  if string.sub(id, 1, 2) ~= '0:' and redis.call('HEXISTS', jobPrefix .. id, 'defa') == 0 then
    running[#running + 1] = id
    nodes[#nodes + 1] = redis.call('HGET', nodesKey, id) or ''
  end
end
local last = redis.call('XREVRANGE', eventsKey, '+', '-', 'COUNT', 1)
local lastId = '0-0'
if #last > 0 then lastId = last[1][1] end
local paused = redis.call('HEXISTS', metaKey, 'paused')
local limit = redis.call('HGET', metaKey, 'bosun:limit') or '-1'
return {waiting, queuedAt, running, nodes, paused, limit, lastId, redis.call('GET', epochKey)}
`;

interface ScriptCommands {
  bosunAdmit(...args: Array<string | number>): Promise<[number, number]>;
  bosunTicket(...args: Array<string | number>): Promise<[number, number, number]>;
  bosunAbandon(...args: Array<string | number>): Promise<number>;
  bosunLeave(...args: Array<string | number>): Promise<number>;
  bosunMarkRunning(...args: Array<string | number>): Promise<number>;
  bosunClaimLost(...args: Array<string | number>): Promise<number>;
  bosunSetLimit(...args: Array<string | number>): Promise<number>;
  bosunSnapshot(...args: Array<string | number>): Promise<[string[], string[], string[], string[], number, string, string, string]>;
}

/** The keys of one BullMQ queue that the scripts use, and bosun's own beside them. */
export interface QueueKeySet {
  /** `<prefix>:<queue>:`, the prefix of every job hash. */
  readonly jobPrefix: string;
  readonly wait: string;
  readonly active: string;
  readonly meta: string;
  readonly events: string;
  readonly marker: string;
  /** bosun's: runs admitted and not yet added (sorted set, score = when the reservation expires). */
  readonly admitting: string;
  /** bosun's: which node runs a job (hash id → node name). */
  readonly nodes: string;
  /** bosun's: a random value set once per Redis data set; a new one means Redis lost its data. */
  readonly epoch: string;
}

export function queueKeys(prefix: string, queueName: string): QueueKeySet {
  const base = `${prefix}:${queueName}:`;
  return {
    jobPrefix: base,
    wait: `${base}wait`,
    active: `${base}active`,
    meta: `${base}meta`,
    events: `${base}events`,
    marker: `${base}marker`,
    admitting: `${base}bosun:admitting`,
    nodes: `${base}bosun:nodes`,
    epoch: `${base}bosun:epoch`,
  };
}

export type AdmitResult = { readonly admitted: true } | { readonly admitted: false; readonly reason: 'duplicate' | 'full'; readonly waiting: number };

export interface Snapshot {
  /** Next to start first. */
  readonly waiting: ReadonlyArray<{ readonly id: string; readonly queuedAt: number }>;
  readonly running: ReadonlyArray<{ readonly id: string; readonly node: string | undefined }>;
  readonly paused: boolean;
  /** The cluster's limit, or undefined when no node has set it yet. */
  readonly limit: number | undefined;
  /** The last event id of the stream at that instant: read on after it. */
  readonly lastEventId: string;
  readonly epoch: string;
}

/** The scripts bound to one connection and one queue's keys. */
export class QueueScripts {
  readonly #redis: Redis & ScriptCommands;
  readonly #keys: QueueKeySet;

  constructor(redis: Redis, keys: QueueKeySet) {
    const commands: Array<[keyof ScriptCommands, number, string]> = [
      ['bosunAdmit', 3, ADMIT],
      ['bosunTicket', 3, TICKET],
      ['bosunAbandon', 1, ABANDON],
      ['bosunLeave', 2, LEAVE],
      ['bosunMarkRunning', 2, MARK_RUNNING],
      ['bosunClaimLost', 2, CLAIM_LOST],
      ['bosunSetLimit', 4, SET_LIMIT],
      ['bosunSnapshot', 6, SNAPSHOT],
    ];
    for (const [name, numberOfKeys, lua] of commands) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua });
    }
    this.#redis = redis as Redis & ScriptCommands;
    this.#keys = keys;
  }

  /** Reserves a place in line for `id` for `reserveMs` (until it is added), or says why not. */
  async admit(id: string, queuedAt: number, now: number, reserveMs: number, maxLength: number, front: boolean): Promise<AdmitResult> {
    const k = this.#keys;
    const [code, waiting] = await this.#redis.bosunAdmit(
      k.wait,
      k.admitting,
      k.events,
      k.jobPrefix,
      id,
      queuedAt,
      now,
      reserveMs,
      maxLength,
      front ? 1 : 0,
    );
    if (code === 1) return { admitted: true };
    return { admitted: false, reason: code === -1 ? 'duplicate' : 'full', waiting };
  }

  /** Where the added run `id` stands now (0 = not waiting), with the cluster's counts; ends its reservation. */
  async ticket(id: string): Promise<{ position: number; running: number; queued: number }> {
    const k = this.#keys;
    const [position, running, queued] = await this.#redis.bosunTicket(k.wait, k.active, k.admitting, id);
    return { position, running, queued };
  }

  /** Ends the reservation of a run that was admitted and then not added. */
  async abandon(id: string): Promise<void> {
    await this.#redis.bosunAbandon(this.#keys.admitting, id);
  }

  /** Takes a waiting run out of the line; true for the one caller that did. */
  async leave(id: string, reason: string): Promise<boolean> {
    const k = this.#keys;
    return (await this.#redis.bosunLeave(k.wait, k.events, k.jobPrefix, id, reason)) === 1;
  }

  async markRunning(id: string, node: string): Promise<void> {
    await this.#redis.bosunMarkRunning(this.#keys.nodes, this.#keys.events, id, node);
  }

  /** Forgets which node ran `id` (it finished). */
  async forgetNode(id: string): Promise<void> {
    await this.#redis.hdel(this.#keys.nodes, id);
  }

  /** True for the one node that claims a dead node's job `id`. */
  async claimLost(id: string): Promise<boolean> {
    const k = this.#keys;
    return (await this.#redis.bosunClaimLost(k.nodes, k.wait, k.jobPrefix, id)) === 1;
  }

  /** Sets the cluster's limit (0 = unlimited), or only reads it when `onlyIfUnset` and a node set it before. */
  async setLimit(limit: number, onlyIfUnset: boolean): Promise<number> {
    const k = this.#keys;
    return Number(await this.#redis.bosunSetLimit(k.meta, k.wait, k.marker, k.events, limit, onlyIfUnset ? 1 : 0));
  }

  async snapshot(newEpoch: string): Promise<Snapshot> {
    const k = this.#keys;
    const [waiting, queuedAt, running, nodes, paused, limit, lastEventId, epoch] = await this.#redis.bosunSnapshot(
      k.wait,
      k.active,
      k.meta,
      k.events,
      k.nodes,
      k.epoch,
      k.jobPrefix,
      newEpoch,
    );
    return {
      waiting: waiting.map((id, index) => ({ id, queuedAt: Number(queuedAt[index]) })),
      running: running.map((id, index) => ({ id, node: nodes[index] === '' ? undefined : nodes[index] })),
      paused: paused === 1,
      limit: limit === '-1' ? undefined : Number(limit),
      lastEventId,
      epoch,
    };
  }
}
