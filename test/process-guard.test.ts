/**
 * The process guard: an unhandled rejection is logged with its stack and the process lives on;
 * an uncaught exception is fatal (a clean shutdown, then exit). First on an emitter standing in
 * for the process, then in a real child process with real faults, where Node's own default
 * (an unhandled rejection kills the process) is what the guard overrides.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { installProcessGuard } from '../src/process-guard.js';
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
