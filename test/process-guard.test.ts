/**
 * The process guard: an unhandled rejection is logged with its stack and the process lives on;
 * an uncaught exception is fatal (a clean shutdown, then exit). First on an emitter standing in
 * for the process, then in a real child process with real faults, where Node's own default
 * (an unhandled rejection kills the process) is what the guard overrides.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { installProcessGuard, installStopSignals, SAME_STOP_REQUEST_MS } from '../src/process-guard.js';
import { createTestLogger } from './helpers/test-logger.js';
import { runToExit } from './helpers/run-to-exit.js';

function guarded() {
  const target = new EventEmitter();
  const logger = createTestLogger();
  const calls = { fatal: [] as unknown[], exitNow: 0 };
  const uninstall = installProcessGuard(target, {
    logger,
    onFatal: (error) => calls.fatal.push(error),
    exitNow: () => (calls.exitNow += 1),
  });
  return { target, logger, calls, uninstall };
}

describe('installProcessGuard', () => {
  it('logs a rejection nothing handled, with its error, and does nothing else', () => {
    const { target, logger, calls } = guarded();
    const error = new Error('stream ended badly');
    target.emit('unhandledRejection', error, Promise.resolve());
    target.emit('unhandledRejection', 'a string reason', Promise.resolve());
    expect(logger.entries.map((e) => [e.level, e.msg, e.fields['err']])).toEqual([
      ['error', 'a background task failed with a rejection nothing handled; bosun keeps running', error],
      ['error', 'a background task failed with a rejection nothing handled; bosun keeps running', 'a string reason'],
    ]);
    expect(calls).toEqual({ fatal: [], exitNow: 0 });
  });

  it('treats the first uncaught exception as fatal, and exits at once on a second one', () => {
    const { target, logger, calls } = guarded();
    const first = new Error('first');
    target.emit('uncaughtException', first, 'uncaughtException');
    expect(calls).toEqual({ fatal: [first], exitNow: 0 });
    target.emit('uncaughtException', new Error('second'), 'uncaughtException');
    expect(calls).toEqual({ fatal: [first], exitNow: 1 });
    expect(logger.entries.map((e) => e.msg)).toEqual([
      'uncaught exception: bosun shuts down (its state may be inconsistent) and exits 1',
      'another uncaught exception during the shutdown: exiting now',
    ]);
  });

  it('uninstalls itself', () => {
    const { target, uninstall } = guarded();
    uninstall();
    expect(target.listenerCount('unhandledRejection') + target.listenerCount('uncaughtException')).toBe(0);
  });
});

function stopSignals() {
  const target = new EventEmitter();
  const logger = createTestLogger();
  let clockMs = 0;
  const calls = { stop: [] as string[], exitNow: [] as string[] };
  const uninstall = installStopSignals(target, {
    logger,
    onStop: (signal) => calls.stop.push(signal),
    exitNow: (signal) => calls.exitNow.push(signal),
    now: () => clockMs,
  });
  const signal = (name: NodeJS.Signals, atMs: number) => {
    clockMs = atMs;
    target.emit(name, name);
  };
  return { target, logger, calls, signal, uninstall };
}

describe('installStopSignals', () => {
  it('begins one graceful stop for a signal that the whole group got (npm passes it on a few ms later)', () => {
    const { logger, calls, signal } = stopSignals();
    signal('SIGINT', 1000);
    signal('SIGINT', 1004);
    expect(calls).toEqual({ stop: ['SIGINT'], exitNow: [] });
    expect(logger.entries.map((e) => [e.level, e.msg])).toEqual([
      ['info', 'signal received: stopping gracefully (send it again, a second or more later, to exit at once)'],
      ['debug', 'the same stop request again (passed on by another process in the group): still stopping gracefully'],
    ]);
  });

  it('counts SIGTERM and SIGINT alike, and any number of copies within the window as one request', () => {
    const { calls, signal } = stopSignals();
    signal('SIGTERM', 0);
    signal('SIGINT', 10);
    signal('SIGTERM', SAME_STOP_REQUEST_MS - 1);
    expect(calls).toEqual({ stop: ['SIGTERM'], exitNow: [] });
  });

  it('exits at once on a signal a second or more after the first: a person asking again', () => {
    const { logger, calls, signal } = stopSignals();
    signal('SIGINT', 0);
    signal('SIGINT', 3);
    signal('SIGINT', SAME_STOP_REQUEST_MS);
    expect(calls).toEqual({ stop: ['SIGINT'], exitNow: ['SIGINT'] });
    expect(logger.entries.at(-1)).toMatchObject({
      level: 'warn',
      msg: 'second signal: exiting at once',
      fields: { signal: 'SIGINT', sinceFirstMs: SAME_STOP_REQUEST_MS },
    });
  });

  it('uninstalls itself', () => {
    const { target, uninstall } = stopSignals();
    uninstall();
    expect(target.listenerCount('SIGINT') + target.listenerCount('SIGTERM')).toBe(0);
  });
});

async function runGuarded(fault: string): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  const { code, stdout, stderr } = await runToExit(['test/helpers/guarded-process.ts', fault]);
  return { code, lines: stdout.trim().split('\n'), stderr };
}

describe('the guard in a real process', () => {
  it('survives a background task that rejects, and logs the stack', async () => {
    const { code, lines, stderr } = await runGuarded('rejection');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const logged = JSON.parse(lines[0]!) as { msg: string; stack: string };
    expect(logged.msg).toBe('a background task failed with a rejection nothing handled; bosun keeps running');
    expect(logged.stack).toMatch(/^Error: background flush failed\n\s+at backgroundFlush/);
    expect(lines[1]).toBe('still alive');
  });

  it('hands an uncaught exception to the fatal path after logging it', async () => {
    const { code, lines } = await runGuarded('exception');
    const logged = JSON.parse(lines[0]!) as { msg: string; stack: string };
    expect(logged.msg).toBe('uncaught exception: bosun shuts down (its state may be inconsistent) and exits 1');
    expect(logged.stack).toContain('Error: a timer callback threw');
    expect(code).toBe(3);
  });
});
