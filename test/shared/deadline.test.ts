import { describe, expect, it } from 'vitest';
import { delay, withDeadline } from '../../src/shared/deadline.js';

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

describe('withDeadline', () => {
  it('returns the result in time', async () => {
    expect(await withDeadline(() => Promise.resolve(42), { timeoutMs: 1_000 })).toBe(42);
  });

  it('rejects at the deadline even when the operation ignores its signal, and aborts that signal', async () => {
    let seen: AbortSignal | undefined;
    const pending = withDeadline(
      (signal) => {
        seen = signal;
        return new Promise<never>(() => {});
      },
      { timeoutMs: 20, onTimeout: () => new Error('engine ping: no answer within 20 ms') },
    );
    await expect(pending).rejects.toThrow('engine ping: no answer within 20 ms');
    expect(seen?.aborted).toBe(true);
  });

  it('past the deadline without onTimeout, rejects with a TimeoutError naming the limit', async () => {
    const pending = withDeadline(() => new Promise<never>(() => {}), { timeoutMs: 20 });
    await expect(pending).rejects.toMatchObject({ name: 'TimeoutError', message: 'no answer within 20 ms' });
  });

  it('rejects when the outer signal aborts, including before it starts', async () => {
    const outer = new AbortController();
    const pending = withDeadline(() => new Promise<never>(() => {}), { timeoutMs: 60_000, signal: outer.signal });
    outer.abort(new Error('shutting down'));
    await expect(pending).rejects.toThrow('shutting down');
    await expect(
      withDeadline(
        () => {
          throw new Error('sync failure');
        },
        { timeoutMs: 1_000, signal: AbortSignal.abort() },
      ),
    ).rejects.toThrow();
  });

  it('passes on the operation’s own error, even one thrown synchronously', async () => {
    await expect(
      withDeadline(
        () => {
          throw new Error('sync failure');
        },
        { timeoutMs: 1_000 },
      ),
    ).rejects.toThrow('sync failure');
  });
});
