import { describe, expect, it } from 'vitest';
import { delay } from '../../src/monitor/delay.js';
import { withTimeout } from '../../src/monitor/with-timeout.js';

describe('delay', () => {
  it('elapses, or ends early when any signal aborts', async () => {
    expect(await delay(1)).toBe('elapsed');
    const controller = new AbortController();
    const waiting = delay(60_000, [new AbortController().signal, controller.signal]);
    controller.abort();
    expect(await waiting).toBe('interrupted');
    expect(await delay(60_000, [AbortSignal.abort()])).toBe('interrupted');
  });
});

describe('withTimeout', () => {
  it('returns the result in time', async () => {
    expect(await withTimeout(async () => 42, 1_000, 'answer')).toBe(42);
  });

  it('rejects at the deadline even when the operation ignores its signal, and aborts that signal', async () => {
    let seen: AbortSignal | undefined;
    const pending = withTimeout(
      (signal) => {
        seen = signal;
        return new Promise<never>(() => {});
      },
      20,
      'engine ping',
    );
    await expect(pending).rejects.toThrow('engine ping: no answer within 20 ms');
    expect(seen?.aborted).toBe(true);
  });

  it('rejects when the outer signal aborts, including before it starts', async () => {
    const outer = new AbortController();
    const pending = withTimeout(() => new Promise<never>(() => {}), 60_000, 'x', outer.signal);
    outer.abort(new Error('shutting down'));
    await expect(pending).rejects.toThrow('shutting down');
    await expect(
      withTimeout(
        () => {
          throw new Error('sync failure');
        },
        1_000,
        'x',
        AbortSignal.abort(),
      ),
    ).rejects.toThrow();
  });
});
