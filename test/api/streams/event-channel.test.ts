import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { BosunError } from '../../../src/errors.js';
import { EventChannel, StreamFailure, unwrapStreamItem } from '../../../src/api/streams/event-channel.js';
import { StreamRegistry } from '../../../src/api/streams/stream-registry.js';

/** Everything the channel hands out until it is done. */
async function drain<T>(channel: AsyncIterator<T>): Promise<T[]> {
  const items: T[] = [];
  for (let next = await channel.next(); !next.done; next = await channel.next()) items.push(next.value);
  return items;
}

describe('EventChannel', () => {
  it('hands a consumer that takes long over its buffer a turn at a time, so that others run in between', async () => {
    const channel = new EventChannel<number>({ capacity: 10, overflow: 'fail' });
    for (let n = 1; n <= 3; n += 1) channel.push(n);
    channel.end();
    const order: string[] = [];
    const consumer = (async () => {
      for (let next = await channel.next(); !next.done; next = await channel.next()) {
        order.push(`item ${String(unwrapStreamItem(next.value))}`);
        // Longer than TAKE_SLICE_MS per item, as executing and sending a result can be.
        const until = performance.now() + 5;
        while (performance.now() < until);
      }
    })();
    setImmediate(() => order.push('another turn'));
    await consumer;
    // The first item comes in the chain of microtasks; the next one only after the event loop turned.
    expect(order.slice(0, 2)).toEqual(['item 1', 'another turn']);
    expect(order.filter((entry) => entry.startsWith('item'))).toEqual(['item 1', 'item 2', 'item 3']);
  });

  it('hands out pushed items in order, to waiting readers first', async () => {
    const channel = new EventChannel<number>({ capacity: 10, overflow: 'drop-oldest' });
    const waiting = channel.next();
    channel.push(1);
    channel.push(2);
    expect(await waiting).toEqual({ done: false, value: 1 });
    channel.end();
    expect(channel.push(3)).toBe(false);
    expect(await drain(channel)).toEqual([2]);
    expect(channel.isClosed).toBe(true);
  });

  it('drops the oldest items beyond its capacity under drop-oldest', async () => {
    const channel = new EventChannel<number>({ capacity: 3, overflow: 'drop-oldest' });
    for (let n = 1; n <= 5; n += 1) channel.push(n);
    expect(channel.buffered).toBe(3);
    expect(channel.dropped).toBe(2);
    channel.end();
    expect(await drain(channel)).toEqual([3, 4, 5]);
  });

  it('ends with the overflow error after what it holds under fail, and stops listening at once', async () => {
    const emitter = new EventEmitter<{ tick: [n: number] }>();
    const channel = new EventChannel<number>({ capacity: 2, overflow: 'fail', overflowError: () => new Error('too slow') });
    channel.listen(emitter, 'tick', (n) => channel.push(n));
    for (let n = 1; n <= 4; n += 1) emitter.emit('tick', n);
    expect(emitter.listenerCount('tick')).toBe(0);
    const items = await drain(channel);
    expect(items.slice(0, 2)).toEqual([1, 2]);
    expect(items[2]).toBeInstanceOf(StreamFailure);
    expect(() => unwrapStreamItem(items[2] as StreamFailure)).toThrow('too slow');
    expect(items).toHaveLength(3);
  });

  it('does not count a backlog against its capacity', async () => {
    const channel = new EventChannel<number>({ capacity: 2, overflow: 'fail' });
    channel.pushBacklog([1, 2, 3, 4]);
    expect(channel.push(5)).toBe(true);
    expect(channel.push(6)).toBe(true);
    expect(channel.isOpen).toBe(true);
    expect(() => channel.pushBacklog([7])).toThrow(/before live items/);
    channel.end();
    expect(await drain(channel)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('hands a backlog to waiting readers first', async () => {
    const channel = new EventChannel<number>({ capacity: 1, overflow: 'fail' });
    const first = channel.next();
    channel.pushBacklog([1, 2, 3]);
    channel.push(4);
    channel.end();
    expect(await first).toEqual({ done: false, value: 1 });
    expect(await drain(channel)).toEqual([2, 3, 4]);
  });

  it('removes its listeners and completes waiting readers when the consumer returns', async () => {
    const emitter = new EventEmitter<{ a: [string]; b: [number, number] }>();
    const channel = new EventChannel<string>({ capacity: 5, overflow: 'drop-oldest' });
    const stopped: string[] = [];
    channel.listen(emitter, 'a', (value) => channel.push(value));
    channel.listen(emitter, 'b', (x, y) => channel.push(String(x + y)));
    channel.onStop(() => stopped.push('stop'));
    channel.onClose(() => stopped.push('close'));
    const waiting = channel.next();
    expect(emitter.listenerCount('a') + emitter.listenerCount('b')).toBe(2);
    expect(await channel.return()).toEqual({ done: true, value: undefined });
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(emitter.listenerCount('a') + emitter.listenerCount('b')).toBe(0);
    expect(stopped).toEqual(['stop', 'close']);
    channel.listen(emitter, 'a', () => undefined);
    expect(emitter.listenerCount('a')).toBe(0);
  });

  it('closes when the consumer throws, rejecting with the error', async () => {
    const emitter = new EventEmitter<{ a: [string] }>();
    const channel = new EventChannel<string>({ capacity: 5, overflow: 'drop-oldest' });
    channel.listen(emitter, 'a', (value) => channel.push(value));
    await expect(channel.throw(new Error('consumer failed'))).rejects.toThrow('consumer failed');
    expect(emitter.listenerCount('a')).toBe(0);
    expect(await channel.next()).toEqual({ done: true, value: undefined });
  });

  it('closes with `await using`', async () => {
    const emitter = new EventEmitter<{ a: [string] }>();
    {
      await using channel = new EventChannel<string>({ capacity: 5, overflow: 'drop-oldest' });
      channel.listen(emitter, 'a', () => undefined);
      expect(emitter.listenerCount('a')).toBe(1);
    }
    expect(emitter.listenerCount('a')).toBe(0);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new EventChannel({ capacity: 0, overflow: 'fail' })).toThrow(RangeError);
    expect(() => new EventChannel<string>({ capacity: 1, capacityBytes: 0, sizeOf: (s) => s.length, overflow: 'fail' })).toThrow(RangeError);
  });

  it('bounds the bytes of live items too: fail says which bound was passed; one item is always taken', async () => {
    const causes: string[] = [];
    const channel = new EventChannel<string>({
      capacity: 100,
      capacityBytes: 10,
      sizeOf: (s) => s.length,
      overflow: 'fail',
      overflowError: (cause) => {
        causes.push(cause);
        return new Error(`too slow (${cause})`);
      },
    });
    channel.pushBacklog(['backlog is not counted against the bound']);
    expect(channel.push('x'.repeat(50))).toBe(true); // alone, over the bound: taken
    expect(channel.bufferedBytes).toBe(90);
    expect(channel.push('y')).toBe(false);
    expect(causes).toEqual(['bytes']);
    const items = await drain(channel);
    expect(items).toHaveLength(3);
    expect(() => unwrapStreamItem(items[2] as StreamFailure)).toThrow('too slow (bytes)');
    expect(channel.bufferedBytes).toBe(0);
  });

  it('drops the oldest live items until a new one fits the byte bound under drop-oldest', async () => {
    const channel = new EventChannel<string>({ capacity: 100, capacityBytes: 6, sizeOf: (s) => s.length, overflow: 'drop-oldest' });
    for (const item of ['aa', 'bb', 'cc', 'dddd']) channel.push(item);
    expect(channel.dropped).toBe(2);
    expect(channel.bufferedBytes).toBe(6);
    channel.end();
    expect(await drain(channel)).toEqual(['cc', 'dddd']);
  });

  it("calls the producer's pull on the next turn of the event loop once the consumer has taken every buffered item, while open", async () => {
    const channel = new EventChannel<number>({ capacity: 1, overflow: 'fail' });
    const pages = [[1, 2], [3], []];
    let pulls = 0;
    channel.setPull(() => {
      pulls += 1;
      const page = pages.shift() ?? [];
      if (page.length === 0) channel.end();
      else channel.pushBacklog(page);
    });
    expect(pulls).toBe(0);
    expect(await channel.next()).toEqual({ done: false, value: 1 }); // nothing buffered: pulled, then handed over
    expect(pulls).toBe(1);
    expect(await channel.next()).toEqual({ done: false, value: 2 }); // the last of the page: the next pull is scheduled...
    expect(pulls).toBe(1); // ...not run inside next(), so a fast reader cannot replay a whole log in one microtask chain
    await nextTurn();
    expect(pulls).toBe(2);
    expect(channel.buffered).toBe(1);
    expect(await channel.next()).toEqual({ done: false, value: 3 });
    await nextTurn();
    expect(pulls).toBe(3); // the empty page ended the channel
    expect(await channel.next()).toEqual({ done: true, value: undefined });
    expect(pulls).toBe(3);
  });

  it('schedules one pull however often the consumer asks, and none once closed', async () => {
    const channel = new EventChannel<number>({ capacity: 1, overflow: 'fail' });
    let pulls = 0;
    channel.setPull(() => (pulls += 1));
    const first = channel.next();
    const second = channel.next();
    await nextTurn();
    expect(pulls).toBe(1);
    channel.push(7);
    expect(await first).toEqual({ done: false, value: 7 });
    void channel.next();
    channel.close();
    await nextTurn();
    expect(pulls).toBe(1);
    expect(await second).toEqual({ done: true, value: undefined });
  });

  it('fails the stream with the error of a pull that throws', async () => {
    const channel = new EventChannel<number>({ capacity: 1, overflow: 'fail' });
    channel.setPull(() => {
      throw new Error('the store is gone');
    });
    const item = await channel.next();
    expect(item.done).toBe(false);
    expect((item.value as StreamFailure).error.message).toBe('the store is gone');
    expect(await channel.next()).toEqual({ done: true, value: undefined });
  });
});

/** Lets a pull scheduled with setImmediate run. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('StreamRegistry', () => {
  it('tracks open channels until they close', async () => {
    const registry = new StreamRegistry({ defaultCapacity: 4 });
    const a = registry.open<number>({ overflow: 'drop-oldest' });
    const b = registry.open<number>({ overflow: 'drop-oldest' });
    expect(registry.size).toBe(2);
    await a.return();
    expect(registry.size).toBe(1);
    b.end();
    expect(registry.size).toBe(0);
  });

  it('ends open channels gracefully on endAll, and refuses new ones with SHUTTING_DOWN', async () => {
    const registry = new StreamRegistry();
    const channel = registry.open<number>({ overflow: 'drop-oldest' });
    channel.push(1);
    registry.endAll();
    expect(await drain(channel)).toEqual([1]);
    expect(registry.size).toBe(0);
    expect(() => registry.open({ overflow: 'fail' })).toThrow(BosunError);
    try {
      registry.open({ overflow: 'fail' });
    } catch (error) {
      expect((error as BosunError).code).toBe('SHUTTING_DOWN');
    }
  });

  it('counts the items and bytes every open channel holds', async () => {
    const registry = new StreamRegistry();
    const weighed = registry.open<string>({ overflow: 'fail', sizeOf: (s) => s.length });
    weighed.pushBacklog(['abc']);
    weighed.push('de');
    registry.open<string>({ overflow: 'fail' }).push('not weighed');
    expect(registry.bufferedItems).toBe(3);
    expect(registry.bufferedBytes).toBe(5);
    await weighed.next();
    expect(registry.bufferedBytes).toBe(2);
  });

  it('keeps one fanout per emitter and event, listening only while a key has a listener', () => {
    const registry = new StreamRegistry();
    const emitter = new EventEmitter<{ line: [{ runId: string }] }>();
    const fanout = registry.fanout(emitter, 'line', (line) => line.runId);
    expect(registry.fanout(emitter, 'line', () => 'ignored')).toBe(fanout);
    expect(emitter.listenerCount('line')).toBe(0);
    const seen: string[] = [];
    const stop = fanout.subscribe('a', (line) => seen.push(line.runId));
    expect(emitter.listenerCount('line')).toBe(1);
    emitter.emit('line', { runId: 'a' });
    emitter.emit('line', { runId: 'b' });
    stop();
    expect(emitter.listenerCount('line')).toBe(0);
    expect(seen).toEqual(['a']);
  });

  it('closes open channels at once on closeAll', async () => {
    const registry = new StreamRegistry();
    const channel = registry.open<number>({ overflow: 'drop-oldest' });
    channel.push(1);
    registry.closeAll();
    expect(await channel.next()).toEqual({ done: true, value: undefined });
    expect(registry.size).toBe(0);
  });
});
