/**
 * Makes one node's typed EventEmitter show every node's events, over Redis pub/sub.
 *
 * In cluster mode a run lives on one node, but a subscription (`agentRunUpdated`, `agentLogs`,
 * `resourceSamples`, `healthAlerts`) may be opened on any node. Each node bridges its domain
 * event sources (the run service's, the monitor's) to one Redis channel per source. The bridge's
 * {@link RedisEventBridge.events} is the cluster-wide view of a source: the node's own events, at
 * once and in order, and every other node's. The API layer listens to the view as it listens to
 * the local source in embedded mode, and never knows there are several nodes.
 *
 * The local source itself is left alone: what listens to it (the monitor watching the node's
 * containers, the engine guard) acts on this node's engine and must not see other nodes' events.
 *
 * - **Batches.** The events of one turn of the event loop go out as one message, so a chatty run
 *   costs one PUBLISH per turn, not one per log line.
 * - **Encoding.** `v8.serialize` (the structured clone algorithm): `Date`s, `Map`s, `Set`s and
 *   errors arrive as themselves, with no reviver guessing which strings were dates. Redis is the
 *   cluster's own infrastructure, not a client; v8.deserialize builds data, never code.
 * - **Bounded.** While Redis does not answer, at most `maxPendingBytes` of published messages wait
 *   in the client; past that, batches are dropped and counted (one log line per outage). A
 *   subscriber on another node then misses them, as it would miss events while disconnected: logs
 *   resume with `afterSeq` from the shared store, and a run's next update carries its whole
 *   snapshot.
 * - **No echo.** A node ignores its own messages when they come back: it showed them already.
 */
import { EventEmitter } from 'node:events';
import { deserialize, serialize } from 'node:v8';
import type { Redis } from 'ioredis';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';

/** The event map of an EventEmitter: each name to its arguments. */
type EventMap<T> = Record<keyof T, unknown[]>;

/** One message on the channel: who sent it and the events of one turn, in order. */
interface BridgeMessage {
  readonly origin: string;
  readonly events: readonly (readonly [name: string, args: readonly unknown[]])[];
}

/** @default 8 MiB: a few seconds of a log-heavy run's lines. */
export const DEFAULT_MAX_PENDING_BYTES = 8 * 1024 * 1024;

export interface RedisEventBridgeOptions<Events extends EventMap<Events>> {
  /** The node's own event source. */
  readonly emitter: EventEmitter<Events>;
  /** Which events cross nodes. Events not named stay local. */
  readonly names: readonly (keyof Events & string)[];
  /** The Redis channel, one per event source (e.g. `bosun:events:runs`). */
  readonly channel: string;
  /** This node's unique id: its own messages are ignored when they come back. */
  readonly nodeId: string;
  /** A connection for PUBLISH (it may be shared with other commands). */
  readonly publisher: Redis;
  /** A connection for SUBSCRIBE only: Redis allows nothing else on a subscribed connection. */
  readonly subscriber: Redis;
  /** @default {@link DEFAULT_MAX_PENDING_BYTES} */
  readonly maxPendingBytes?: number;
  readonly logger: Pick<Logger, 'warn' | 'error'>;
}

/** Counters for the metrics and the health report. */
export interface EventBridgeStats {
  readonly published: number;
  readonly received: number;
  /** Events not published because Redis was not taking them fast enough. */
  readonly dropped: number;
}

export class RedisEventBridge<Events extends EventMap<Events>> {
  /** The cluster-wide view: this node's events of the bridged names, then other nodes' as they arrive. */
  readonly events: EventEmitter<Events> = new EventEmitter<Events>();
  private readonly options: RedisEventBridgeOptions<Events>;
  private readonly maxPendingBytes: number;
  private readonly bridgedNames: ReadonlySet<string>;
  private readonly listeners = new Map<string, (...args: unknown[]) => void>();
  private batch: [string, unknown[]][] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  private pendingBytes = 0;
  private droppingSince: number | undefined;
  private counters = { published: 0, received: 0, dropped: 0 };
  private closed = false;
  private readonly onMessage = (channel: Buffer, message: Buffer): void => this.receive(channel, message);

  constructor(options: RedisEventBridgeOptions<Events>) {
    const maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    if (!Number.isSafeInteger(maxPendingBytes) || maxPendingBytes <= 0) {
      throw new TypeError(`Expected maxPendingBytes to be a positive integer, got ${maxPendingBytes}`);
    }
    if (options.nodeId === '') throw new TypeError('Expected nodeId to be a non-empty string, got ""');
    this.options = options;
    this.maxPendingBytes = maxPendingBytes;
    this.bridgedNames = new Set(options.names);
    // As many subscriptions listen to the view as to the source it mirrors.
    this.events.setMaxListeners(options.emitter.getMaxListeners());
  }

  get stats(): EventBridgeStats {
    return { ...this.counters };
  }

  /** Subscribes to the channel, then starts publishing local events. */
  async start(): Promise<void> {
    const { subscriber, channel, emitter, names } = this.options;
    subscriber.on('messageBuffer', this.onMessage);
    await subscriber.subscribe(channel);
    for (const name of names) {
      const listener = (...args: unknown[]): void => this.collect(name, args);
      this.listeners.set(name, listener);
      (emitter as unknown as EventEmitter).on(name, listener);
    }
  }

  /** Publishes what was collected, stops listening and unsubscribes. The connections stay open (their owner closes them). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const emitter = this.options.emitter as unknown as EventEmitter;
    for (const [name, listener] of this.listeners) emitter.off(name, listener);
    this.listeners.clear();
    if (this.flushScheduled) clearImmediate(this.flushScheduled);
    this.flush();
    this.options.subscriber.off('messageBuffer', this.onMessage);
    await this.options.subscriber.unsubscribe(this.options.channel).catch(() => undefined);
  }

  private collect(name: string, args: unknown[]): void {
    if (this.closed) return;
    this.emitOnView(name, args);
    this.batch.push([name, args]);
    this.flushScheduled ??= setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = undefined;
    if (this.batch.length === 0) return;
    const events = this.batch;
    this.batch = [];
    let payload: Buffer;
    try {
      payload = serialize({ origin: this.options.nodeId, events } satisfies BridgeMessage);
    } catch (error) {
      // A payload the structured clone cannot copy (a function, a class instance with private
      // state) is a bug of the event source: say so, and keep the process and the other batches.
      this.options.logger.error({ channel: this.options.channel, error: errorMessage(error) }, 'cluster events not serializable');
      this.counters.dropped += events.length;
      return;
    }
    if (this.pendingBytes + payload.length > this.maxPendingBytes) {
      this.counters.dropped += events.length;
      if (this.droppingSince === undefined) {
        this.droppingSince = Date.now();
        this.options.logger.warn(
          { channel: this.options.channel, pendingBytes: this.pendingBytes },
          'Redis is not taking cluster events fast enough: dropping them until it does (other nodes resume from the store)',
        );
      }
      return;
    }
    this.pendingBytes += payload.length;
    this.options.publisher.publish(this.options.channel, payload).then(
      () => {
        this.pendingBytes -= payload.length;
        this.counters.published += events.length;
        this.droppingSince = undefined;
      },
      (error: unknown) => {
        this.pendingBytes -= payload.length;
        this.counters.dropped += events.length;
        if (this.droppingSince === undefined) {
          this.droppingSince = Date.now();
          this.options.logger.warn({ channel: this.options.channel, error: errorMessage(error) }, 'cluster events not published');
        }
      },
    );
  }

  private receive(channel: Buffer, message: Buffer): void {
    if (this.closed || channel.toString() !== this.options.channel) return;
    let decoded: BridgeMessage;
    try {
      const value: unknown = deserialize(message);
      if (!isBridgeMessage(value)) throw new TypeError('not a bosun cluster event message');
      decoded = value;
    } catch (error) {
      this.options.logger.warn({ channel: this.options.channel, error: errorMessage(error) }, 'unreadable cluster event message ignored');
      return;
    }
    if (decoded.origin === this.options.nodeId) return;
    for (const [name, args] of decoded.events) {
      if (!this.bridgedNames.has(name)) continue;
      this.counters.received += 1;
      this.emitOnView(name, args);
    }
  }

  private emitOnView(name: string, args: readonly unknown[]): void {
    try {
      (this.events as unknown as EventEmitter).emit(name, ...args);
    } catch (error) {
      // A listener that throws must not cost the other listeners the rest of the batch.
      this.options.logger.error({ channel: this.options.channel, event: name, error: errorMessage(error) }, 'cluster event listener failed');
    }
  }
}

function isBridgeMessage(value: unknown): value is BridgeMessage {
  if (typeof value !== 'object' || value === null) return false;
  const { origin, events } = value as Record<string, unknown>;
  return (
    typeof origin === 'string' &&
    Array.isArray(events) &&
    events.every((event: unknown) => Array.isArray(event) && typeof event[0] === 'string' && Array.isArray(event[1]))
  );
}
