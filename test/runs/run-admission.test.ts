/**
 * The admission's own checks before a run is stored: the engine's answers (cached info, image
 * presence) and what a failure of either becomes, and a closed admission. With a real SQLite
 * store and queue, and a provider that answers as told (no engine). The admission's interplay
 * with cancel, shutdown and a failing store is tested through the run service
 * (agent-run-service.test.ts).
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { ShellAgent } from '../../src/agents/shell-agent.js';
import { BosunError } from '../../src/errors.js';
import { createSilentLogger } from '../../src/logger.js';
import { AgentExecutionQueue } from '../../src/queue/agent-execution-queue.js';
import { AgentRegistry } from '../../src/runs/agent-registry.js';
import { RunAdmission } from '../../src/runs/run-admission.js';
import { RunRecorder } from '../../src/runs/run-recorder.js';
import type { RunServiceEvents } from '../../src/runs/run-service.js';
import type { EngineInfo } from '../../src/sandbox/sandbox.js';
import { SandboxError } from '../../src/sandbox/sandbox-errors.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { StoreHealth } from '../../src/store/store-health.js';
import { createTestLogger } from '../helpers/test-logger.js';
import { bosunRefusal } from '../helpers/bosun-refusal.js';

const DEFAULTS = {
  agent: 'shell',
  image: 'bosun-sandbox:latest',
  limits: { cpus: 1, memoryBytes: 256 * 1024 ** 2, pidsLimit: 100 },
  timeoutMs: 60_000,
};
const ENGINE: EngineInfo = { version: '27.0.0', cpus: 4, memoryBytes: 8 * 1024 ** 3 };
const INPUT = { group: { id: 'g', name: 'failing CI', runIds: ['ci-1'] }, config: { steps: ['true'] } };

const queues: AgentExecutionQueue[] = [];
afterEach(async () => {
  for (const queue of queues.splice(0)) await queue.close();
});

/** A provider whose answers the test sets: `fault` makes both look-ups fail with it. */
async function setup() {
  const engine = { images: new Set([DEFAULTS.image]), fault: null as Error | null, infoCalls: 0 };
  const store = new SqliteRunStore(openDatabase(':memory:'), { logLinesPerRun: 100, health: new StoreHealth({ logger: createTestLogger() }) });
  const queue = new AgentExecutionQueue({ runTask: () => Promise.resolve(), maxConcurrency: 1, maxQueueLength: 10, queueTimeoutMs: 600_000 });
  queues.push(queue);
  // Paused: runs wait in line, and nothing runs.
  const admission = new RunAdmission({
    store,
    queue,
    sandboxes: {
      engineInfo: () => {
        engine.infoCalls += 1;
        return engine.fault ? Promise.reject(engine.fault) : Promise.resolve(ENGINE);
      },
      imageExists: (image) => (engine.fault ? Promise.reject(engine.fault) : Promise.resolve(engine.images.has(image))),
    },
    agents: new AgentRegistry([new ShellAgent()]),
    defaults: DEFAULTS,
    recorder: new RunRecorder(store, new EventEmitter<RunServiceEvents>(), createSilentLogger()),
  });
  await queue.pause();
  return { engine, store, queue, admission };
}

describe('RunAdmission', () => {
  it('stores and queues a run whose image the engine has, asking the engine for its info once while it is fresh', async () => {
    const { engine, store, queue, admission } = await setup();
    const first = await admission.start(INPUT);
    const second = await admission.start(INPUT);
    expect(first.run.status).toBe('QUEUED');
    expect(queue.waitingIds()).toEqual([first.run.id, second.run.id]);
    expect((await store.list(undefined, 10)).map((run) => run.id).sort()).toEqual([first.run.id, second.run.id].sort());
    expect(engine.infoCalls).toBe(1);
  });

  it('refuses an image the engine does not have as bad input, and stores nothing', async () => {
    const { engine, store, admission } = await setup();
    engine.images.clear();
    const refused = await bosunRefusal(admission.start(INPUT));
    expect(refused.code).toBe('BAD_USER_INPUT');
    expect(refused.message).toContain('bosun-sandbox:latest');
    expect(await store.list(undefined, 10)).toEqual([]);
  });

  it('tells an engine that does not answer (DOCKER_UNAVAILABLE) from one that refuses (SANDBOX_ERROR)', async () => {
    const { engine, admission } = await setup();
    engine.fault = new SandboxError('DOCKER_UNAVAILABLE', 'connect ECONNREFUSED');
    expect((await bosunRefusal(admission.start(INPUT))).code).toBe('DOCKER_UNAVAILABLE');
    engine.fault = new SandboxError('DOCKER_ERROR', 'HTTP 500');
    const refused = await bosunRefusal(admission.start(INPUT));
    expect(refused.code).toBe('SANDBOX_ERROR');
    expect(refused.message).toContain('refused to report its info');
  });

  it('translates a failed image look-up the same way, once the info is cached', async () => {
    const { engine, admission } = await setup();
    await admission.start(INPUT);
    engine.fault = new SandboxError('DOCKER_ERROR', 'HTTP 400');
    const refused = await bosunRefusal(admission.start(INPUT));
    expect(refused.code).toBe('SANDBOX_ERROR');
    expect(refused.message).toContain('refused to look up image "bosun-sandbox:latest"');
    engine.fault = new SandboxError('DOCKER_UNAVAILABLE', 'socket hang up');
    expect((await bosunRefusal(admission.start(INPUT))).code).toBe('DOCKER_UNAVAILABLE');
  });

  it('refuses every run once closed', async () => {
    const { store, admission } = await setup();
    admission.close();
    expect((await bosunRefusal(admission.start(INPUT))).code).toBe('SHUTTING_DOWN');
    expect(() => admission.assertOpen()).toThrow(BosunError);
    expect(await store.list(undefined, 10)).toEqual([]);
  });

  it('leaves a stored run that is already in line waiting, as when a starting cluster node put it back first', async () => {
    const { store, queue, admission } = await setup();
    const { run } = await admission.start(INPUT);
    // Entering again is what an admission meets when another node's recovery restored the run meanwhile.
    const ticket = await admission.enqueue(run);
    expect(ticket.position).toBe(1);
    expect(queue.waitingIds()).toEqual([run.id]);
    expect((await store.get(run.id))?.status).toBe('QUEUED');
  });
});
