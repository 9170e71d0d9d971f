import { describe, expect, it } from 'vitest';
import { delay, nativeSignal, withDeadline } from '../../src/shared/deadline.js';

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

describe('nativeSignal', () => {
  /** A signal as a fetch ponyfill makes one: the same surface, not the platform's class. */
  function foreignSignal(): { signal: AbortSignal; abort: (reason: unknown) => void } {
    const target = new EventTarget() as EventTarget & { aborted: boolean; reason: unknown };
    target.aborted = false;
    target.reason = undefined;
    return {
      signal: target as unknown as AbortSignal,
      abort: (reason) => {
        target.aborted = true;
        target.reason = reason;
        target.dispatchEvent(new Event('abort'));
      },
    };
  }

  it("returns the platform's own signal as it is", () => {
    const controller = new AbortController();
    expect(nativeSignal(controller.signal)).toBe(controller.signal);
  });

  it('follows a foreign signal with one AbortSignal.any accepts, reason and all', () => {
    const foreign = foreignSignal();
    expect(() => AbortSignal.any([foreign.signal])).toThrow(TypeError);
    const native = nativeSignal(foreign.signal);
    const combined = AbortSignal.any([native]);
    expect(combined.aborted).toBe(false);
    foreign.abort(new Error('client gone'));
    expect(native.aborted).toBe(true);
    expect((combined.reason as Error).message).toBe('client gone');
  });

  it('follows a foreign signal that claims to be an AbortSignal (its prototype), which AbortSignal.any still refuses', () => {
    const foreign = foreignSignal();
    Object.setPrototypeOf(foreign.signal, AbortSignal.prototype);
    expect(foreign.signal instanceof AbortSignal).toBe(true);
    const native = nativeSignal(foreign.signal);
    expect(native).not.toBe(foreign.signal);
    expect(() => AbortSignal.any([native])).not.toThrow();
  });

  it('is aborted at once for a foreign signal that already is', () => {
    const foreign = foreignSignal();
    foreign.abort('done');
    expect(nativeSignal(foreign.signal).reason).toBe('done');
  });
});
