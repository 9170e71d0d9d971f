/**
 * Who may hold a long-lived connection. Streaming connections — WebSockets whose
 * `connection_init` was accepted, and SSE responses — share one cap (MAX_WS_CONNECTIONS): each
 * holds buffers and subscriptions, whichever transport it uses. A WebSocket that has not sent an
 * accepted `connection_init` yet is *pending*: it holds no subscription and no streaming slot,
 * lives at most the init timeout, and counts against a small cap per client address
 * (MAX_PENDING_WS_PER_ADDRESS) and the same total. So a client that opens sockets and never
 * authenticates fills its own pending slots, not the ones that authenticated clients need.
 *
 * Addresses are counted as IPv4 addresses, and IPv6 ones by their /64 prefix (what one host
 * usually gets, and can spend freely).
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface StreamingSlotsOptions {
  /** Streaming connections (accepted WebSockets and SSE responses) at most. */
  readonly maxStreams: number;
  /** Pending WebSockets per client address at most. */
  readonly maxPendingPerAddress: number;
  /** Pending WebSockets in all at most; default `maxStreams`. */
  readonly maxPending?: number;
}

/** A slot held; `release` is idempotent. */
export interface Slot {
  release(): void;
}

/** A pending WebSocket's slot. */
export interface PendingSlot extends Slot {
  /**
   * Moves the socket from pending to streaming (its `connection_init` was accepted). False, and
   * the socket stays pending, when every streaming slot is taken.
   */
  promote(): boolean;
}

export type SlotResult<S> = { readonly ok: true; readonly slot: S } | { readonly ok: false; readonly message: string };

export class StreamingSlots {
  readonly #maxStreams: number;
  readonly #maxPendingPerAddress: number;
  readonly #maxPending: number;
  #streams = 0;
  #pending = 0;
  readonly #pendingByAddress = new Map<string, number>();

  constructor(options: StreamingSlotsOptions) {
    this.#maxStreams = options.maxStreams;
    this.#maxPendingPerAddress = options.maxPendingPerAddress;
    this.#maxPending = options.maxPending ?? options.maxStreams;
  }

  /** Streaming connections open now. */
  get streams(): number {
    return this.#streams;
  }

  /** Pending WebSockets now. */
  get pending(): number {
    return this.#pending;
  }

  /** Pending WebSockets of the address of `remote` now. */
  pendingOf(remote: string | undefined): number {
    return this.#pendingByAddress.get(clientAddressKey(remote)) ?? 0;
  }

  /** A slot for a new WebSocket from `remote`, waiting for its `connection_init`. */
  openPending(remote: string | undefined): SlotResult<PendingSlot> {
    if (this.#streams >= this.#maxStreams) return { ok: false, message: this.#fullMessage() };
    const key = clientAddressKey(remote);
    const ofAddress = this.#pendingByAddress.get(key) ?? 0;
    if (ofAddress >= this.#maxPendingPerAddress) {
      return {
        ok: false,
        message: `Too many WebSocket connections from this address are waiting for connection_init (at most ${this.#maxPendingPerAddress}); try again later`,
      };
    }
    if (this.#pending >= this.#maxPending) {
      return { ok: false, message: 'Too many WebSocket connections are waiting for connection_init; try again later' };
    }
    this.#pending += 1;
    this.#pendingByAddress.set(key, ofAddress + 1);
    let state: 'pending' | 'streaming' | 'released' = 'pending';
    const leavePending = (): void => {
      this.#pending -= 1;
      const left = (this.#pendingByAddress.get(key) ?? 1) - 1;
      if (left > 0) this.#pendingByAddress.set(key, left);
      else this.#pendingByAddress.delete(key);
    };
    return {
      ok: true,
      slot: {
        promote: () => {
          if (state === 'streaming') return true;
          if (state === 'released' || this.#streams >= this.#maxStreams) return false;
          leavePending();
          this.#streams += 1;
          state = 'streaming';
          return true;
        },
        release: () => {
          if (state === 'pending') leavePending();
          else if (state === 'streaming') this.#streams -= 1;
          state = 'released';
        },
      },
    };
  }

  /** A streaming slot (an SSE response). */
  openStream(): SlotResult<Slot> {
    if (this.#streams >= this.#maxStreams) return { ok: false, message: this.#fullMessage() };
    this.#streams += 1;
    let released = false;
    return {
      ok: true,
      slot: {
        release: () => {
          if (released) return;
          released = true;
          this.#streams -= 1;
        },
      },
    };
  }

  #fullMessage(): string {
    return `Too many streaming connections (WebSocket and SSE together, at most ${this.#maxStreams}); try again later`;
  }
}

/**
 * What per-address limits count `remote` as: an IPv4 address as it is (also when IPv4-mapped),
 * an IPv6 address by its /64 prefix, anything else as it is.
 */
export function clientAddressKey(remote: string | undefined): string {
  if (remote === undefined) return 'unknown';
  const address = remote.toLowerCase().replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address)?.[1];
  if (mapped !== undefined && isIPv4(mapped)) return mapped;
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.split('::');
  const groupsOf = (part: string): string[] => (part === '' ? [] : part.split(':').flatMap((group) => (group.includes('.') ? ['0', '0'] : [group])));
  const front = groupsOf(head);
  const back = tail === undefined ? [] : groupsOf(tail);
  const groups = [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}
