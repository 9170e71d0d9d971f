import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { EngineGuard } from '../../src/coordination/engine-guard.js';
import type { MonitorEvents } from '../../src/monitor/monitor-service.js';
import { makeReport } from '../helpers/fixtures.js';

/** Lets the guard's promise chain drain (it applies reports one after another). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

const UP = makeReport({ docker: { reachable: true, version: '27', error: null } });
const DOWN = makeReport({ docker: { reachable: false, version: null, error: 'connect ENOENT' } });

function setup() {
  const events = new EventEmitter<MonitorEvents>();
  const calls: string[] = [];
  const queue = {
    pause: () => {
      calls.push('pause');
      return Promise.resolve();
    },
    resume: () => {
      calls.push('resume');
      return Promise.resolve();
    },
  };
  const sandboxes = {
    engine: null as Error | null,
    reap: (): Promise<string[]> => Promise.resolve(['0123456789abcdef0123']),
    engineInfo() {
      if (this.engine) return Promise.reject(this.engine);
      return Promise.resolve({ version: '27', cpus: 2, memoryBytes: 1 });
    },
    async reapOrphans() {
      calls.push('reap');
      return this.reap();
    },
  };
  const logger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn(), child: vi.fn() };
  const guard = new EngineGuard({ sandboxes, queue, monitorEvents: events, logger, afterReap: () => calls.push('after reap') });
  /** Emits a health-check report and waits until the guard has applied it. */
  const report = async (r = UP) => {
    events.emit('health-check', r);
    await settle();
  };
  return { events, calls, sandboxes, logger, guard, report };
}

describe('EngineGuard', () => {
  it('at start: holds the queue, reaps orphans once the engine answers, then lets the queue run', async () => {
    const { guard, calls, logger } = setup();
    await guard.hold();
    await guard.hold();
    expect(calls).toEqual(['pause']);
    expect(await guard.checkNow()).toBe(true);
    expect(calls).toEqual(['pause', 'reap', 'after reap', 'resume']);
    expect(logger.info).toHaveBeenCalledWith({ containers: ['0123456789ab'] }, 'reaped 1 orphan container(s)');
    // Reaping is done once per outage, not at every check.
    expect(await guard.checkNow()).toBe(true);
    expect(calls).toEqual(['pause', 'reap', 'after reap', 'resume']);
  });

  it('at start with the engine down: keeps holding, and reaps and resumes at the first report that finds it', async () => {
    const { guard, calls, sandboxes, report } = setup();
    sandboxes.engine = new Error('connect ENOENT');
    await guard.hold();
    expect(await guard.checkNow()).toBe(false);
    expect(calls).toEqual(['pause']);
    await report(UP);
    expect(calls).toEqual(['pause', 'reap', 'after reap', 'resume']);
  });

  it('pauses once while the engine is unreachable, and reaps and resumes when it answers again', async () => {
    const { calls, logger, report } = setup();
    await report(UP);
    // Reaped once after start (there was no hold): nothing to resume.
    expect(calls).toEqual(['reap', 'after reap']);
    await report(DOWN);
    await report(DOWN);
    expect(calls).toEqual(['reap', 'after reap', 'pause']);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn).toHaveBeenCalledWith({ error: 'connect ENOENT' }, 'Docker engine unreachable: queue paused, waiting runs keep their place');
    await report(UP);
    expect(calls).toEqual(['reap', 'after reap', 'pause', 'reap', 'after reap', 'resume']);
    expect(logger.info).toHaveBeenCalledWith({}, 'Docker engine answers again: queue resumed');
  });

  it('keeps the queue paused while orphans cannot be reaped, and tries again at the next report', async () => {
    const { calls, sandboxes, logger, report } = setup();
    await report(DOWN);
    sandboxes.reap = () => Promise.reject(new Error('engine busy'));
    await report(UP);
    expect(calls).toEqual(['pause', 'reap']);
    expect(logger.warn).toHaveBeenCalledWith(
      { err: expect.any(Error) as Error },
      'could not reap orphan containers yet; will retry at the next health check',
    );
    sandboxes.reap = () => Promise.resolve([]);
    await report(UP);
    // What depends on the reap (the warm pool's rebuild) waits for one that succeeded.
    expect(calls).toEqual(['pause', 'reap', 'reap', 'after reap', 'resume']);
  });

  it('a run that lost the engine holds the queue at once; the next report that finds it reaps and resumes', async () => {
    const { guard, calls, logger, report } = setup();
    await report(UP);
    calls.length = 0;
    guard.engineLost('connect ECONNRESET');
    guard.engineLost('connect ECONNRESET');
    expect(calls).toEqual(['pause']);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    await report(UP);
    expect(calls).toEqual(['pause', 'reap', 'after reap', 'resume']);
  });

  it('applies reports one at a time, in order', async () => {
    const { calls, sandboxes, events, report } = setup();
    await report(DOWN);
    let finishReap: (ids: string[]) => void = () => {};
    sandboxes.reap = () => new Promise((resolve) => (finishReap = resolve));
    events.emit('health-check', UP);
    events.emit('health-check', DOWN);
    await settle();
    // The DOWN report waits for the UP report's reap.
    expect(calls).toEqual(['pause', 'reap']);
    finishReap([]);
    await report(DOWN);
    expect(calls).toEqual(['pause', 'reap', 'after reap', 'resume', 'pause']);
  });

  it('stops following health checks once disposed', async () => {
    const { guard, events, calls } = setup();
    guard[Symbol.dispose]();
    expect(events.listenerCount('health-check')).toBe(0);
    events.emit('health-check', DOWN);
    await settle();
    expect(calls).toEqual([]);
  });

  it('resumes nothing once disposed, even with a check under way (shutdown pauses the queue after disposing it)', async () => {
    const { guard, events, calls, sandboxes } = setup();
    guard.engineLost('connect ENOENT');
    await settle();
    // A check is under way (reaping) when shutdown begins.
    let finishReap!: (ids: string[]) => void;
    sandboxes.reap = () => new Promise((resolve) => (finishReap = resolve));
    events.emit('health-check', UP);
    await settle();
    guard[Symbol.dispose]();
    finishReap([]);
    await settle();
    await settle();
    expect(calls).toEqual(['pause', 'reap', 'after reap']);
  });
});
