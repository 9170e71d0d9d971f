/**
 * The Lua scripts the BullMQ backend adds to BullMQ's own, each one atomic on the Redis server, so
 * that what several nodes do at once stays exact without locks of our own:
 * - `admit` refuses a run when the cluster's line is full (QUEUE_FULL is cluster-wide and never
 *   overshoots) or when the id is already known, and announces the run on the events stream before
 *   BullMQ adds it, with its `queuedAt` (BullMQ's `waiting` event carries only the id).
 * - `ticket` answers where an added run stands: LPOS on the wait list, with the counts, in one step.
 * - `leave` takes a waiting run out of the line (cancel, queue timeout) exactly once cluster-wide, and
 *   names the node that did on its event: that node records the run's end, the others do not.
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
  expired: 'bosun-expired',
  left: 'bosun-left',
  running: 'bosun-running',
  limit: 'bosun-limit',
  /** Redis lost its data and a node settled the new data set: every node resyncs (a flush reconnects none). */
  reset: 'bosun-reset',
});

/** How long the mark that a lost job was claimed is kept (long after every node has seen the event). */
const CLAIM_KEEP_MS = 3_600_000;

/** Bounds the events stream as BullMQ does (its default `maxEvents`). */
const MAX_EVENTS = 10_000;

/** Lua: the id of the stream's last event (`eventsKey`), '0-0' when empty. */
const LAST_EVENT_ID = `(function()
  local last = redis.call('XREVRANGE', eventsKey, '+', '-', 'COUNT', 1)
  if #last > 0 then return last[1][1] end
  return '0-0'
end)()`;

const ADMIT = `
local waitKey, admittingKey, eventsKey, settledKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local jobPrefix, id, queuedAt, now, reserveMs, maxLength, front, expired, node =
  ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8] == '1', ARGV[9]
-- A data set not settled yet (Redis came back empty, and no node has held the slots of the runs
-- still running: see bullmq-reset-scripts.ts) takes no run: it could start beside them.
if redis.call('EXISTS', settledKey) == 0 then return {-3, 0, ''} end
if redis.call('EXISTS', jobPrefix .. id) == 1 or redis.call('ZSCORE', admittingKey, id) then
  return {-1, 0, ''}
end
redis.call('ZREMRANGEBYSCORE', admittingKey, '-inf', now)
-- A run between its admission and its add counts as waiting; once added it is in the list.
local pending = 0
for _, other in ipairs(redis.call('ZRANGE', admittingKey, 0, -1)) do
  if redis.call('EXISTS', jobPrefix .. other) == 0 then pending = pending + 1 end
end
local waiting = redis.call('LLEN', waitKey) + pending
if maxLength > 0 and waiting >= maxLength then return {-2, waiting, ''} end
if expired then
  -- Past its deadline already (a restored run): every node shows it entering and timing out; it never
  -- starts. The node that admitted it is named: it alone records the run's end.
  local eventId = redis.call('XADD', eventsKey, 'MAXLEN', '~', ${MAX_EVENTS}, '*', 'event', '${STREAM_EVENT.expired}',
    'jobId', id, 'queuedAt', queuedAt, 'node', node)
  return {2, waiting, eventId}
end
redis.call('ZADD', admittingKey, now + reserveMs, id)
redis.call('XADD', eventsKey, 'MAXLEN', '~', ${MAX_EVENTS}, '*', 'event', '${STREAM_EVENT.admitted}',
  'jobId', id, 'queuedAt', queuedAt, 'front', front)
return {1, waiting, ''}
`;

const TICKET = `
local waitKey, activeKey, admittingKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
redis.call('ZREM', admittingKey, ARGV[1])
local length = redis.call('LLEN', waitKey)
local index = redis.call('LPOS', waitKey, ARGV[1])
local position = 0
if index then position = length - index end
return {position, redis.call('LLEN', activeKey), length, ${LAST_EVENT_ID}}
`;

const ABANDON = `
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`;

const LEAVE = `
local waitKey, eventsKey = KEYS[1], KEYS[2]
local jobPrefix, id, reason, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('LREM', waitKey, 1, id) == 0 then return '' end
redis.call('DEL', jobPrefix .. id, jobPrefix .. id .. ':logs')
-- The one node whose leave took it out is named: it alone records the run's end.
return redis.call('XADD', eventsKey, 'MAXLEN', '~', ${MAX_EVENTS}, '*', 'event', '${STREAM_EVENT.left}',
  'jobId', id, 'reason', reason, 'node', node)
`;

const MARK_RUNNING = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ${MAX_EVENTS}, '*', 'event', '${STREAM_EVENT.running}',
  'jobId', ARGV[1], 'node', ARGV[2])
return 1
`;

const CLAIM_LOST = `
local nodesKey, waitKey = KEYS[1], KEYS[2]
local jobPrefix, id, claimMs = ARGV[1], ARGV[2], ARGV[3]
-- The node recorded by markRunning; else BullMQ's processedBy, still the dead worker's name until
-- another worker takes the job to fail it.
local node = redis.call('HGET', nodesKey, id) or redis.call('HGET', jobPrefix .. id, 'pb') or ''
redis.call('HDEL', nodesKey, id)
if not redis.call('SET', jobPrefix .. id .. ':bosun-lost', '1', 'PX', claimMs, 'NX') then return {0, node} end
-- The dead node's job went back to the head of the line to be failed by the next worker that takes
-- it; taking it out here keeps it off the line (and off every position) at once.
if redis.call('LREM', waitKey, 1, id) == 1 then
  redis.call('DEL', jobPrefix .. id, jobPrefix .. id .. ':logs')
end
return {1, node}
`;

const SET_LIMIT = `
local metaKey, waitKey, markerKey, eventsKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local limit, onlyIfUnset = tonumber(ARGV[1]), ARGV[2] == '1'
if onlyIfUnset and redis.call('HEXISTS', metaKey, 'bosun:limit') == 1 then
  return {tonumber(redis.call('HGET', metaKey, 'bosun:limit')), ${LAST_EVENT_ID}}
end
redis.call('HSET', metaKey, 'bosun:limit', limit)
if limit == 0 then redis.call('HDEL', metaKey, 'concurrency') else redis.call('HSET', metaKey, 'concurrency', limit) end
-- A raised limit must wake the workers blocked on the marker (BullMQ adds one only on add and finish).
if redis.call('LLEN', waitKey) > 0 then redis.call('ZADD', markerKey, 0, '0') end
return {limit, redis.call('XADD', eventsKey, 'MAXLEN', '~', ${MAX_EVENTS}, '*', 'event', '${STREAM_EVENT.limit}', 'limit', limit)}
`;

const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const SNAPSHOT = `
local waitKey, activeKey, metaKey, eventsKey, nodesKey, epochKey, settledKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
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
  -- A slot held for a run after a data loss (bullmq-reset-scripts.ts) is no run until its node takes it over.
  if string.sub(id, 1, 2) ~= '0:' and redis.call('HEXISTS', jobPrefix .. id, 'defa') == 0
    and redis.call('HEXISTS', jobPrefix .. id, 'bosun:hold') == 0 then
    running[#running + 1] = id
    nodes[#nodes + 1] = redis.call('HGET', nodesKey, id) or ''
  end
end
local lastId = ${LAST_EVENT_ID}
local first = redis.call('XRANGE', eventsKey, '-', '+', 'COUNT', 1)
local firstId = '0-0'
if #first > 0 then firstId = first[1][1] end
local paused = redis.call('HEXISTS', metaKey, 'paused')
local limit = redis.call('HGET', metaKey, 'bosun:limit') or '-1'
return {waiting, queuedAt, running, nodes, paused, limit, lastId, redis.call('GET', epochKey), firstId, redis.call('EXISTS', settledKey)}
`;

interface ScriptCommands {
  bosunAdmit(...args: Array<string | number>): Promise<[number, number, string]>;
  bosunTicket(...args: Array<string | number>): Promise<[number, number, number, string]>;
  bosunAbandon(...args: Array<string | number>): Promise<number>;
  bosunLeave(...args: Array<string | number>): Promise<string>;
  bosunMarkRunning(...args: Array<string | number>): Promise<number>;
  bosunClaimLost(...args: Array<string | number>): Promise<[number, string]>;
  bosunSetLimit(...args: Array<string | number>): Promise<[number, string]>;
  bosunUnlock(...args: Array<string | number>): Promise<number>;
  bosunSnapshot(...args: Array<string | number>): Promise<[string[], string[], string[], string[], number, string, string, string, string, number]>;
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
  /** bosun's: set once the runs still running are held in a data set (see bullmq-reset-scripts.ts); runs are admitted only then. */
  readonly settled: string;
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
    settled: `${base}bosun:settled`,
  };
}

export type AdmitResult =
  | { readonly admitted: true }
  /** Past its deadline: announced as entering and timing out, never added. */
  | { readonly admitted: false; readonly reason: 'expired'; readonly waiting: number; readonly eventId: string }
  | { readonly admitted: false; readonly reason: 'duplicate'; readonly waiting: number }
  | { readonly admitted: false; readonly reason: 'full'; readonly waiting: number }
  /** Redis came back without its data and no node has settled it yet (see bullmq-reset-scripts.ts). */
  | { readonly admitted: false; readonly reason: 'unsettled'; readonly waiting: number };

/** What a script that changed the line replies: the stream id of its event, to wait for. */
export interface Written {
  readonly eventId: string;
}

export interface Snapshot {
  /** Next to start first. */
  readonly waiting: ReadonlyArray<{ readonly id: string; readonly queuedAt: number }>;
  readonly running: ReadonlyArray<{ readonly id: string; readonly node: string | undefined }>;
  readonly paused: boolean;
  /** The cluster's limit, or undefined when no node has set it yet. */
  readonly limit: number | undefined;
  /** The last event id of the stream at that instant: read on after it. */
  readonly lastEventId: string;
  /** The oldest event id the stream still holds (it is trimmed to about 10,000 events). */
  readonly firstEventId: string;
  readonly epoch: string;
  /**
   * Whether a node has settled this data set (held the slots of the runs still running, see
   * bullmq-reset-scripts.ts): a data set that is not is one Redis lost, whatever its epoch says.
   */
  readonly settled: boolean;
}

/** The scripts bound to one connection and one queue's keys. */
export class QueueScripts {
  readonly #redis: Redis & ScriptCommands;
  readonly #keys: QueueKeySet;
  /** This node's name, written on the `left` / `expired` events of its own leaves and admissions. */
  readonly #node: string;

  constructor(redis: Redis, keys: QueueKeySet, node: string) {
    const commands: Array<[keyof ScriptCommands, number, string]> = [
      ['bosunAdmit', 4, ADMIT],
      ['bosunTicket', 4, TICKET],
      ['bosunAbandon', 1, ABANDON],
      ['bosunLeave', 2, LEAVE],
      ['bosunMarkRunning', 2, MARK_RUNNING],
      ['bosunClaimLost', 2, CLAIM_LOST],
      ['bosunSetLimit', 4, SET_LIMIT],
      ['bosunUnlock', 1, UNLOCK],
      ['bosunSnapshot', 7, SNAPSHOT],
    ];
    for (const [name, numberOfKeys, lua] of commands) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys, lua });
    }
    this.#redis = redis as Redis & ScriptCommands;
    this.#keys = keys;
    this.#node = node;
  }

  /**
   * Reserves a place in line for `id` for `reserveMs` (until it is added), or says why not. A run
   * already `expired` is announced (entering, then timing out) and not reserved.
   */
  async admit(
    id: string,
    times: { readonly queuedAt: number; readonly now: number; readonly reserveMs: number },
    maxLength: number,
    flags: { readonly front: boolean; readonly expired: boolean },
  ): Promise<AdmitResult> {
    const k = this.#keys;
    const [code, waiting, eventId] = await this.#redis.bosunAdmit(
      k.wait,
      k.admitting,
      k.events,
      k.settled,
      k.jobPrefix,
      id,
      times.queuedAt,
      times.now,
      times.reserveMs,
      maxLength,
      flags.front ? 1 : 0,
      flags.expired ? 1 : 0,
      this.#node,
    );
    if (code === 1) return { admitted: true };
    if (code === 2) return { admitted: false, reason: 'expired', waiting, eventId };
    if (code === -3) return { admitted: false, reason: 'unsettled', waiting };
    return code === -1 ? { admitted: false, reason: 'duplicate', waiting } : { admitted: false, reason: 'full', waiting };
  }

  /** Where the added run `id` stands now (0 = not waiting), with the cluster's counts; ends its reservation. */
  async ticket(id: string): Promise<Written & { position: number; running: number; queued: number }> {
    const k = this.#keys;
    const [position, running, queued, eventId] = await this.#redis.bosunTicket(k.wait, k.active, k.admitting, k.events, id);
    return { position, running, queued, eventId };
  }

  /** Ends the reservation of a run that was admitted and then not added. */
  async abandon(id: string): Promise<void> {
    await this.#redis.bosunAbandon(this.#keys.admitting, id);
  }

  /**
   * Takes a waiting run out of the line; its event (naming this node) for the one caller that did,
   * undefined for the others.
   */
  async leave(id: string, reason: string): Promise<Written | undefined> {
    const k = this.#keys;
    const eventId = await this.#redis.bosunLeave(k.wait, k.events, k.jobPrefix, id, reason, this.#node);
    return eventId === '' ? undefined : { eventId };
  }

  async markRunning(id: string, node: string): Promise<void> {
    await this.#redis.bosunMarkRunning(this.#keys.nodes, this.#keys.events, id, node);
  }

  /** Forgets which node ran `id` (it finished). */
  async forgetNode(id: string): Promise<void> {
    await this.#redis.hdel(this.#keys.nodes, id);
  }

  /** Claims a dead node's job `id`: `claimed` for exactly one caller; the node that ran it, when known. */
  async claimLost(id: string): Promise<{ claimed: boolean; node: string | undefined }> {
    const k = this.#keys;
    const [claimed, node] = await this.#redis.bosunClaimLost(k.nodes, k.wait, k.jobPrefix, id, CLAIM_KEEP_MS);
    return { claimed: claimed === 1, node: node === '' ? undefined : node };
  }

  /** Sets the cluster's limit (0 = unlimited), or only reads it when `onlyIfUnset` and a node set it before. */
  async setLimit(limit: number, onlyIfUnset: boolean): Promise<Written & { limit: number }> {
    const k = this.#keys;
    const [value, eventId] = await this.#redis.bosunSetLimit(k.meta, k.wait, k.marker, k.events, limit, onlyIfUnset ? 1 : 0);
    return { limit: Number(value), eventId };
  }

  /** Takes the cluster-wide lock `name` for `ms` unless another holder has it. */
  async lock(name: string, token: string, ms: number): Promise<boolean> {
    return (await this.#redis.set(`${this.#keys.jobPrefix}bosun:lock:${name}`, token, 'PX', ms, 'NX')) === 'OK';
  }

  /** Releases the lock `name` if `token` still holds it. */
  async unlock(name: string, token: string): Promise<void> {
    await this.#redis.bosunUnlock(`${this.#keys.jobPrefix}bosun:lock:${name}`, token);
  }

  async snapshot(newEpoch: string): Promise<Snapshot> {
    const k = this.#keys;
    const [waiting, queuedAt, running, nodes, paused, limit, lastEventId, epoch, firstEventId, settled] = await this.#redis.bosunSnapshot(
      k.wait,
      k.active,
      k.meta,
      k.events,
      k.nodes,
      k.epoch,
      k.settled,
      k.jobPrefix,
      newEpoch,
    );
    return {
      waiting: waiting.map((id, index) => ({ id, queuedAt: Number(queuedAt[index]) })),
      running: running.map((id, index) => ({ id, node: nodes[index] === '' ? undefined : nodes[index] })),
      paused: paused === 1,
      limit: limit === '-1' ? undefined : Number(limit),
      lastEventId,
      firstEventId,
      epoch,
      settled: settled === 1,
    };
  }
}
