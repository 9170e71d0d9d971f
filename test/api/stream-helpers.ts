/**
 * What the stream tests share: how to read what a stream holds without waiting for more, and
 * which BosunError code a call throws.
 */
import { BosunError } from '../../src/errors.js';
import type { StreamItem } from '../../src/api/streams/event-channel.js';

/** A start input that the fake run service accepts. */
export const INPUT = { group: { id: 'g', name: 'g' }, config: {} };

/**
 * What the stream has buffered, and what its producer adds when pulled (a store's next page,
 * read on the next turn of the event loop), and, when it has ended, its end; without waiting
 * for live events.
 */
export async function buffered<T>(
  stream: AsyncIterator<StreamItem<T>> & { buffered: number; isOpen: boolean },
): Promise<{ items: StreamItem<T>[]; done: boolean }> {
  const items: StreamItem<T>[] = [];
  do {
    while (stream.buffered > 0) {
      const next = await stream.next();
      if (!next.done) items.push(next.value);
    }
    await nextTurn();
  } while (stream.buffered > 0);
  if (stream.isOpen) return { items, done: false };
  return { items, done: (await stream.next()).done === true };
}

/** The code of the BosunError that `run` throws or rejects with ('not a BosunError' for another error). */
export async function codeOf(run: () => unknown): Promise<string | undefined> {
  try {
    await run();
  } catch (error) {
    return error instanceof BosunError ? error.code : 'not a BosunError';
  }
  return undefined;
}

/** Lets whatever the event loop scheduled with setImmediate (a stream's pull) run. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
