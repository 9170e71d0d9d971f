/**
 * Sending on a WebSocket whose client may stop reading. graphql-ws awaits each `send` before it
 * takes the next result of that operation, so a send that does not resolve holds the operation's
 * stream back (and the stream then buffers under its own bounds; samples coalesce per container).
 * A send here resolves once its data is written out and the socket has no more than `softBytes`
 * waiting (a send from an empty buffer that the kernel does not take whole: once nothing waits).
 * Many operations can still each have a result in flight; past `hardBytes` waiting the socket is
 * given up on: `onTooSlow` runs (once), which closes it.
 */
import WebSocket from 'ws';

export interface BackpressureOptions {
  readonly softBytes: number;
  readonly hardBytes: number;
  /** Called once, when the socket first has more than `hardBytes` waiting. */
  readonly onTooSlow: (bufferedBytes: number) => void;
  /** How often a send waiting for the buffer to drain looks again; default 20 ms. */
  readonly pollMs?: number;
}

/**
 * graphql-ws's `send` for `socket`. It never rejects: a socket that fails is closing, and its
 * close ends the operations.
 */
export function backpressuredSend(socket: WebSocket, options: BackpressureOptions): (data: string) => Promise<void> {
  const { softBytes, hardBytes, onTooSlow, pollMs = 20 } = options;
  let gaveUp = false;
  const checkHard = (): void => {
    if (!gaveUp && socket.bufferedAmount > hardBytes) {
      gaveUp = true;
      onTooSlow(socket.bufferedAmount);
    }
  };
  const drained = (resolve: () => void): void => {
    if (socket.readyState !== WebSocket.OPEN || socket.bufferedAmount <= softBytes) {
      resolve();
      return;
    }
    setTimeout(drained, pollMs, resolve);
  };
  /** Until nothing waits (the send that started from an empty buffer did not all go out at once). */
  const empty = (resolve: () => void): void => {
    if (socket.readyState !== WebSocket.OPEN || socket.bufferedAmount === 0) {
      resolve();
      return;
    }
    setTimeout(empty, pollMs, resolve);
  };
  return (data) => {
    if (socket.readyState !== WebSocket.OPEN) return RESOLVED;
    if (socket.bufferedAmount === 0) {
      // The common case, and the one a fan-out to many sockets pays for each: nothing waits, and
      // the kernel takes the whole frame within send(), after which nothing waits again. Then the
      // data is written out already: no write callback, no promise of its own.
      socket.send(data);
      if (socket.bufferedAmount === 0) return RESOLVED;
      checkHard();
      return new Promise<void>((resolve) => setTimeout(empty, pollMs, resolve));
    }
    return new Promise<void>((resolve) => {
      socket.send(data, (error) => (error ? resolve() : drained(resolve)));
      checkHard();
    });
  };
}

const RESOLVED: Promise<void> = Promise.resolve();
