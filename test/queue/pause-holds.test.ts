import { describe, expect, it } from 'vitest';
import { PauseHolds } from '../../src/queue/pause-holds.js';

/** A node's share of the line that records its calls; `gate` makes them wait, `failNext` fails one. */
function share() {
  const calls: string[] = [];
  const state = {
    calls,
    gate: undefined as Promise<void> | undefined,
    failNext: undefined as Error | undefined,
    pause: () => state.call('pause'),
    resume: () => state.call('resume'),
    async call(name: string): Promise<void> {
      calls.push(name);
      const failure = state.failNext;
      state.failNext = undefined;
      await state.gate;
      if (failure) throw failure;
    },
  };
  return state;
}

describe('PauseHolds', () => {
  it('keeps the share paused while any reason holds it: the engine coming back does not lift the fence', async () => {
    const own = share();
    const holds = new PauseHolds(own);
    await holds.pause('fence');
    await holds.pause('engine');
    await holds.resume('engine');
    expect(own.calls).toEqual(['pause']);
    expect(holds.paused).toBe(true);
    expect(holds.reasons).toEqual(['fence']);
    await holds.resume('fence');
    expect(own.calls).toEqual(['pause', 'resume']);
    expect(holds.paused).toBe(false);
  });

  it('never lifts the shutdown pause, whoever resumes', async () => {
    const own = share();
    const holds = new PauseHolds(own);
    const engine = holds.holder('engine');
    const shutdown = holds.holder('shutdown');
    await engine.pause();
    await shutdown.pause();
    await engine.resume();
    await holds.resume('fence');
    expect(own.calls).toEqual(['pause']);
    expect(holds.reasons).toEqual(['shutdown']);
  });

  it('pauses once for a reason held twice, and a resume of a reason not held changes nothing', async () => {
    const own = share();
    const holds = new PauseHolds(own);
    await holds.resume('engine');
    await holds.pause('engine');
    await holds.pause('engine');
    expect(own.calls).toEqual(['pause']);
    await holds.resume('engine');
    await holds.resume('engine');
    expect(own.calls).toEqual(['pause', 'resume']);
  });

  it("calls the share's pause inside the call when nothing is under way (the in-process queue pauses before it returns)", () => {
    const own = share();
    const holds = new PauseHolds(own);
    void holds.pause('engine');
    expect(own.calls).toEqual(['pause']);
  });

  it('makes changes one at a time, in call order, each waiting for the share', async () => {
    const own = share();
    let open!: () => void;
    own.gate = new Promise((resolve) => (open = resolve));
    const holds = new PauseHolds(own);
    const done: string[] = [];
    const changes = [
      holds.pause('engine').then(() => done.push('engine paused')),
      holds.pause('fence').then(() => done.push('fence paused')),
      holds.resume('engine').then(() => done.push('engine resumed')),
      holds.resume('fence').then(() => done.push('fence resumed')),
    ];
    // The first pause is at the share; the rest wait behind it.
    expect(own.calls).toEqual(['pause']);
    open();
    await Promise.all(changes);
    expect(done).toEqual(['engine paused', 'fence paused', 'engine resumed', 'fence resumed']);
    expect(own.calls).toEqual(['pause', 'resume']);
    expect(holds.paused).toBe(false);
  });

  it("undoes a change whose pause or resume failed, so that the holder's next try makes it", async () => {
    const own = share();
    const holds = new PauseHolds(own);
    own.failNext = new Error('Redis is away');
    await expect(holds.pause('engine')).rejects.toThrow('Redis is away');
    expect(holds.paused).toBe(false);
    await holds.pause('engine');
    expect(own.calls).toEqual(['pause', 'pause']);
    expect(holds.paused).toBe(true);

    own.failNext = new Error('Redis is away');
    await expect(holds.resume('engine')).rejects.toThrow('Redis is away');
    expect(holds.reasons).toEqual(['engine']);
    // A later change still runs after the failed one.
    await holds.resume('engine');
    expect(own.calls).toEqual(['pause', 'pause', 'resume', 'resume']);
    expect(holds.paused).toBe(false);
  });
});
