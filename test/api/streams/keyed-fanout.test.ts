/**
 * The fanout that delivers an event to the listeners of its key only: an event of one key calls
 * no listener of another, and costs one dispatch however many listeners other keys have.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { KeyedFanout } from '../../../src/api/streams/keyed-fanout.js';

interface Line {
  readonly runId: string;
  readonly seq: number;
}

describe('KeyedFanout', () => {
  it('calls no listener of another key, and does one lookup per event however many listeners other keys have', () => {
    const emitter = new EventEmitter<{ log: [Line] }>();
    let keyLookups = 0;
    const fanout = new KeyedFanout<Line>(emitter, 'log', (line) => {
      keyLookups += 1;
      return line.runId;
    });
    let callsOfA = 0;
    for (let index = 0; index < 10_000; index += 1) fanout.subscribe('A', () => (callsOfA += 1));
    const ofB: number[] = [];
    fanout.subscribe('B', (line) => ofB.push(line.seq));
    expect(emitter.listenerCount('log')).toBe(1);

    for (let seq = 1; seq <= 1_000; seq += 1) emitter.emit('log', { runId: 'B', seq });
    expect(callsOfA).toBe(0);
    expect(keyLookups).toBe(1_000);
    expect(ofB).toHaveLength(1_000);

    emitter.emit('log', { runId: 'A', seq: 1 });
    expect(callsOfA).toBe(10_000);
  });

  it('stops delivering to an unsubscribed listener, also during a dispatch, and detaches when no key is left', () => {
    const emitter = new EventEmitter<{ log: [Line] }>();
    const fanout = new KeyedFanout<Line>(emitter, 'log', (line) => line.runId);
    const seen: string[] = [];
    const stopSecond = fanout.subscribe('A', (line) => seen.push(`second ${line.seq}`));
    const stopFirst = fanout.subscribe('A', (line) => {
      seen.push(`first ${line.seq}`);
      stopFirst();
    });
    const listener = (line: Line): number => seen.push(`twice ${line.seq}`);
    const stopTwiceA = fanout.subscribe('A', listener);
    const stopTwiceB = fanout.subscribe('A', listener);
    emitter.emit('log', { runId: 'A', seq: 1 });
    emitter.emit('log', { runId: 'A', seq: 2 });
    expect(seen).toEqual(['second 1', 'first 1', 'twice 1', 'twice 1', 'second 2', 'twice 2', 'twice 2']);
    expect(fanout.listeners('A')).toBe(3);
    stopTwiceA();
    stopTwiceA(); // again: harmless
    expect(fanout.listeners('A')).toBe(2);
    stopTwiceB();
    stopSecond();
    expect(fanout.keys).toBe(0);
    expect(emitter.listenerCount('log')).toBe(0);
    // Subscribing again attaches again.
    fanout.subscribe('C', () => undefined);
    expect(emitter.listenerCount('log')).toBe(1);
  });
});
