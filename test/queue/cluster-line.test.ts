import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClusterLine } from '../../src/queue/cluster-line.js';
import type { ExecutionQueueEvents } from '../../src/queue/execution-queue.js';

const QUEUE_TIMEOUT_MS = 60_000;

/** A line on a clock the test moves, and every event it emits as one readable string. */
function lineWithLog(onDue: (id: string) => void = () => undefined) {
  let nowMs = 1_000_000;
  const events = new EventEmitter<ExecutionQueueEvents>();
  const log: string[] = [];
  events.on('enqueued', ({ id, position }) => log.push(`enqueued ${id} ${position}`));
  events.on('position-changed', ({ id, position }) => log.push(`moved ${id} ${position}`));
  events.on('started', ({ id, waitedMs }) => log.push(`started ${id} ${waitedMs}`));
  events.on('finished', ({ id, error }) => log.push(`finished ${id}${error === undefined ? '' : ' error'}`));
  events.on('left', ({ id, reason, waitedMs }) => log.push(`left ${id} ${reason} ${waitedMs}`));
  events.on('status', ({ running, queued, paused }) => log.push(`status ${running}/${queued}${paused ? ' paused' : ''}`));
  const line = new ClusterLine({ events, now: () => nowMs, queueTimeoutMs: QUEUE_TIMEOUT_MS, onDue }, 2);
  const add = (...ids: string[]): void => {
    for (const id of ids) {
      line.admitted(id, nowMs, false);
      line.added(id, 0);
    }
  };
  return {
    line,
    log,
    add,
    advance: (ms: number) => {
      nowMs += ms;
    },
    now: () => nowMs,
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ClusterLine', () => {
  it('emits what the in-process queue emits as runs enter, start, leave and finish', () => {
    vi.useFakeTimers();
    const { line, log, add, advance } = lineWithLog();
    add('a', 'b', 'c', 'd');
    expect(log.splice(0)).toEqual([
      'enqueued a 1',
      'status 0/1',
      'enqueued b 2',
      'status 0/2',
      'enqueued c 3',
      'status 0/3',
      'enqueued d 4',
      'status 0/4',
    ]);
    advance(250);
    line.started('a');
    expect(log.splice(0)).toEqual(['started a 250', 'moved b 1', 'moved c 2', 'moved d 3', 'status 1/3']);
    line.left('c', 'cancelled');
    expect(log.splice(0)).toEqual(['left c cancelled 250', 'moved d 2', 'status 1/2']);
    line.finished('a', new Error('boom'));
    expect(log.splice(0)).toEqual(['finished a error', 'status 0/2']);
    expect(line.ids()).toEqual(['b', 'd']);
    expect([line.position('b'), line.position('d'), line.position('a')]).toEqual([1, 2, 0]);
  });

  it('ignores what it has no run for: a dead node’s job taken to be failed, a second finish', () => {
    vi.useFakeTimers();
    const { line, log, add } = lineWithLog();
    add('a');
    log.length = 0;
    line.started('ghost');
    line.left('ghost', 'cancelled');
    expect(line.finished('ghost')).toBe(false);
    expect(log).toEqual([]);
  });

  it('puts a restored run at the front and moves every other run back', () => {
    vi.useFakeTimers();
    const { line, log, add, now } = lineWithLog();
    add('a', 'b');
    log.length = 0;
    line.admitted('old', now() - 5_000, true);
    line.added('old', 0);
    expect(log).toEqual(['enqueued old 1', 'moved a 2', 'moved b 3', 'status 0/3']);
    expect(line.ids()).toEqual(['old', 'a', 'b']);
  });

  it('shows an expired run entering at the back and timing out, without keeping it', () => {
    vi.useFakeTimers();
    const { line, log, add, now } = lineWithLog();
    add('a');
    log.length = 0;
    line.expired('stale', now() - 90_000);
    expect(log).toEqual(['enqueued stale 2', 'status 0/2', 'left stale timed-out 90000', 'status 0/1']);
    expect(line.ids()).toEqual(['a']);
  });

  it('reports a waiting run whose deadline passed, and not one that started', () => {
    vi.useFakeTimers();
    const due: string[] = [];
    const { line, add } = lineWithLog((id) => due.push(id));
    add('a', 'b');
    line.started('a');
    vi.advanceTimersByTime(QUEUE_TIMEOUT_MS);
    expect(due).toEqual(['b']);
    expect(line.ids()).toEqual(['b']);
  });

  it('takes a snapshot, announcing only what changed and keeping this node’s own tasks running', () => {
    vi.useFakeTimers();
    const { line, log, add, now } = lineWithLog();
    add('a', 'b', 'c');
    line.started('a');
    line.started('b');
    log.length = 0;
    line.replace(
      [
        { id: 'c', queuedAt: now() },
        { id: 'e', queuedAt: now() },
      ],
      [{ id: 'd', node: 'n2' }],
      new Set(['b']),
    );
    expect(log).toEqual(['started d 0', 'finished a', 'enqueued e 2', 'status 2/2']);
    expect([line.isRunning('b'), line.isRunning('d'), line.nodeOf('d'), line.isRunning('a')]).toEqual([true, true, 'n2', false]);
  });
});
