/**
 * The executor's rules with a fake sandbox, no engine: how each way a run can end is classified
 * and recorded, that the sandbox is stopped and removed before the final status on every path,
 * the container environment, and removal retries (the log budget of steps: agent-context.test.ts).
 */
import { fitsPreparedCommand } from '../../src/sandbox/prepared-command.js';
import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { AgentRegistry } from '../../src/runs/agent-registry.js';
import type { Agent } from '../../src/runs/agent.js';
import { ShellAgent } from '../../src/agents/shell-agent.js';
import { createSilentLogger } from '../../src/logger.js';
import type { AgentRun, AgentRunConfig } from '../../src/runs/agent-run.js';
import { isFinalStatus } from '../../src/runs/agent-run.js';
import type { ArtifactRequest } from '../../src/runs/artifact-collector.js';
import { CONTEXT_FILE_PATH, RunExecutor, RunStopped, type RunExecutorOptions } from '../../src/runs/run-executor.js';
import { RunRecorder } from '../../src/runs/run-recorder.js';
import type { RunServiceEvents } from '../../src/runs/run-service.js';
import { SandboxError } from '../../src/sandbox/sandbox-errors.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { FakeSandboxProvider, Gate, type FakeSandbox } from '../helpers/fake-sandbox.js';
import { makeRun } from '../helpers/fixtures.js';

const STOP_GRACE_MS = 1234;
const MiB = 1024 ** 2;

interface Setup {
  readonly provider: FakeSandboxProvider;
  readonly events: EventEmitter<RunServiceEvents>;
  readonly engineLost: SandboxError[];
  /** Stores a queued run with this config (over the fixture's) and executes it to the end. */
  run(config?: Partial<AgentRunConfig>, signal?: AbortSignal): Promise<AgentRun>;
  /** Stores a queued run and starts executing it. */
  begin(config?: Partial<AgentRunConfig>, signal?: AbortSignal): { readonly id: string; readonly done: Promise<AgentRun> };
  /** `STREAM:step:line` of each log line. */
  logs(id: string): Promise<string[]>;
  /** The run's one sandbox. */
  sandbox(): FakeSandbox;
}

function setup(options: { agents?: Agent[]; logBytesPerRun?: number; collectArtifacts?: RunExecutorOptions['collectArtifacts'] } = {}): Setup {
  const store = new SqliteRunStore(openDatabase(':memory:'), { logLinesPerRun: 100_000 });
  const events = new EventEmitter<RunServiceEvents>();
  const recorder = new RunRecorder(store, events, createSilentLogger());
  const provider = new FakeSandboxProvider();
  const engineLost: SandboxError[] = [];
  const executor = new RunExecutor({
    sandboxes: provider,
    agents: new AgentRegistry([new ShellAgent(), ...(options.agents ?? [])]),
    recorder,
    stopGraceMs: STOP_GRACE_MS,
    ...(options.logBytesPerRun === undefined ? {} : { logBytesPerRun: options.logBytesPerRun }),
    onEngineLost: (error) => engineLost.push(error),
    logger: createSilentLogger(),
    disposeRetryDelayMs: 0,
    ...(options.collectArtifacts ? { collectArtifacts: options.collectArtifacts } : {}),
  });
  let sequence = 0;
  const begin = (config: Partial<AgentRunConfig> = {}, signal = new AbortController().signal) => {
    sequence += 1;
    const base = makeRun({ id: `run-${sequence}` });
    // Recorded as the run service records it: the recorder holds it live until it is final.
    const stored = recorder.insert({ ...base, config: { ...base.config, ...config } });
    const id = base.id;
    return { id, done: stored.then(() => executor.execute(id, signal)).then(() => recorder.load(id)) };
  };
  return {
    provider,
    events,
    engineLost,
    begin,
    run: (config, signal) => begin(config, signal).done,
    logs: async (id) => (await store.readLogs(id)).map((line) => `${line.stream}:${line.step ?? '-'}:${line.line}`),
    sandbox: () => {
      expect(provider.created).toHaveLength(1);
      return provider.created[0]!;
    },
  };
}

describe('outcomes', () => {
  it('succeeds when every step exits 0, recording steps, output and the container', async () => {
    const s = setup();
    s.provider.on('echo hi', { stdout: ['hi'], stderr: ['warning'] });
    const final = await s.run({ steps: ['echo hi', 'true'] });
    const sandbox = s.sandbox();
    expect(final).toMatchObject({ status: 'SUCCEEDED', failureReason: null, error: null, exitCode: 0, containerId: sandbox.id, warmStart: false });
    expect(final.steps.map((step) => [step.index, step.command, step.exitCode])).toEqual([
      [1, 'echo hi', 0],
      [2, 'true', 0],
    ]);
    expect(await s.logs(final.id)).toEqual([
      `SYSTEM:-:container ${sandbox.id.slice(0, 12)} created with cpus=1 memory=2g pids=1000`,
      'SYSTEM:1:step 1: echo hi',
      'STDOUT:1:hi',
      'STDERR:1:warning',
      'SYSTEM:1:step 1 exited 0',
      'SYSTEM:2:step 2: true',
      'SYSTEM:2:step 2 exited 0',
    ]);
    expect(sandbox.execs.map((exec) => exec.options.cwd)).toEqual(['/workspace', '/workspace']);
    // A shell step's options let a warm sandbox hand it to the shell it prepared before the freeze.
    expect(sandbox.execs.map((exec) => fitsPreparedCommand(exec.command, exec.options, '/workspace'))).toEqual([true, true]);
    expect(sandbox.stops).toEqual([]);
    expect(sandbox.disposed).toBe(true);
  });

  it('records a sandbox handed over from the warm pool as a warm start, and says so in the log', async () => {
    const s = setup();
    s.provider.onCreate = (sandbox) => (sandbox.warmStart = true);
    const final = await s.run({ steps: ['true'] });
    const sandbox = s.sandbox();
    expect(final).toMatchObject({ status: 'SUCCEEDED', containerId: sandbox.id, warmStart: true });
    expect((await s.logs(final.id))[0]).toBe(
      `SYSTEM:-:container ${sandbox.id.slice(0, 12)} taken from the warm pool with cpus=1 memory=2g pids=1000`,
    );
    expect(sandbox.disposed).toBe(true);
  });

  it('fails NON_ZERO_EXIT with the first failing step, and runs no later step', async () => {
    const s = setup();
    s.provider.on('exit 3', { exitCode: 3 });
    const final = await s.run({ steps: ['true', 'exit 3', 'echo never'] });
    expect(final).toMatchObject({ status: 'FAILED', failureReason: 'NON_ZERO_EXIT', exitCode: 3, error: 'step 2 exited 3' });
    expect(s.sandbox().commands).toEqual(['true', 'exit 3']);
    expect(s.sandbox().disposed).toBe(true);
  });

  it('fails OOM_KILLED when the kernel killed a process at the memory limit', async () => {
    const s = setup();
    s.provider.on('hog', { exitCode: 137, oomKills: 1 });
    const final = await s.run({ steps: ['hog'], limits: { cpus: 1, memoryBytes: 32 * MiB, pidsLimit: 100 } });
    expect(final).toMatchObject({ status: 'FAILED', failureReason: 'OOM_KILLED', exitCode: 137 });
    expect(final.error).toBe('step 1 exited 137: killed by the kernel for exceeding the memory limit (32m)');
    expect(await s.logs(final.id)).toContain(`SYSTEM:-:OOM: ${final.error}`);
  });

  it('keeps NON_ZERO_EXIT when the pids limit refused forks, and says how many', async () => {
    const s = setup();
    s.provider.on('fork', { exitCode: 2, pidsLimitHits: 7 });
    const final = await s.run({ steps: ['fork'], limits: { cpus: 1, memoryBytes: 256 * MiB, pidsLimit: 64 } });
    expect(final).toMatchObject({ status: 'FAILED', failureReason: 'NON_ZERO_EXIT', exitCode: 2, error: 'step 1 exited 2' });
    expect(await s.logs(final.id)).toContain('SYSTEM:-:the pids limit (64) refused 7 fork(s)');
  });

  it('does not read the limit counters of a run that succeeded', async () => {
    const s = setup();
    s.provider.on('ok', { exitCode: 0, oomKills: 1 });
    expect(await s.run({ steps: ['ok'] })).toMatchObject({ status: 'SUCCEEDED', failureReason: null });
  });

  it('times out at the deadline: TIMED_OUT / RUN_TIMEOUT, stopped with the grace period, then removed', async () => {
    const s = setup();
    s.provider.on('sleep 1000', { hang: true });
    const final = await s.run({ steps: ['sleep 1000'], timeoutMs: 1 });
    expect(final).toMatchObject({ status: 'TIMED_OUT', failureReason: 'RUN_TIMEOUT', error: 'ran longer than its timeout of 1 ms', exitCode: null });
    expect(await s.logs(final.id)).toContain('SYSTEM:-:killed: run deadline of 1 ms');
    expect(s.sandbox().processStops).toEqual([{ graceMs: STOP_GRACE_MS }]);
    expect(s.sandbox().lifecycle).toEqual(['stopProcesses', 'dispose']);
    expect(s.sandbox().disposed).toBe(true);
  });

  it('ends CANCELLED when stopped with cause cancel', async () => {
    const s = setup();
    const controller = new AbortController();
    s.provider.on('sleep 1000', { hang: true, onRun: () => controller.abort(new RunStopped('cancel')) });
    const final = await s.run({ steps: ['sleep 1000', 'echo never'] }, controller.signal);
    expect(final).toMatchObject({ status: 'CANCELLED', failureReason: null, error: 'cancelled while running' });
    expect(await s.logs(final.id)).toContain('SYSTEM:-:killed: cancelled');
    expect(s.sandbox().commands).toEqual(['sleep 1000']);
    expect(s.sandbox().processStops).toEqual([{ graceMs: STOP_GRACE_MS }]);
    expect(s.sandbox().lifecycle).toEqual(['stopProcesses', 'dispose']);
    expect(s.sandbox().disposed).toBe(true);
  });

  it.each([
    ['a shutdown', new RunStopped('shutdown')],
    ['any other reason', new Error('the queue closed')],
  ])('ends FAILED / INTERRUPTED when stopped for %s', async (_name, reason) => {
    const s = setup();
    const controller = new AbortController();
    s.provider.on('sleep 1000', { hang: true, onRun: () => controller.abort(reason) });
    const final = await s.run({ steps: ['sleep 1000'] }, controller.signal);
    expect(final).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED', error: 'the server shut down while the run was running' });
    expect(await s.logs(final.id)).toContain('SYSTEM:-:killed: server shutting down');
    expect(s.sandbox().disposed).toBe(true);
  });

  it('classifies a stop by its cause even when the agent returns after it', async () => {
    const controller = new AbortController();
    const quitter: Agent = {
      name: 'quitter',
      run() {
        controller.abort(new RunStopped('cancel'));
        return Promise.resolve({ exitCode: 0 });
      },
    };
    const s = setup({ agents: [quitter] });
    const final = await s.run({ agent: 'quitter', steps: [] }, controller.signal);
    expect(final).toMatchObject({ status: 'CANCELLED' });
  });

  it('reports a sandbox that died under a command as SANDBOX_ERROR, without blaming the engine', async () => {
    const s = setup();
    s.provider.on('sleep 1000', { error: new SandboxError('CONTAINER_GONE', 'the container bosun-x stopped while a command ran') });
    const final = await s.run({ steps: ['sleep 1000'] });
    expect(final).toMatchObject({
      status: 'FAILED',
      failureReason: 'SANDBOX_ERROR',
      error: 'the sandbox container stopped unexpectedly: the container bosun-x stopped while a command ran',
    });
    expect(s.engineLost).toEqual([]);
    expect(s.sandbox().disposed).toBe(true);
  });

  it('stops a run whose sandbox stops of itself between its steps: SANDBOX_ERROR, no stop asked of the sandbox', async () => {
    const between = new Gate();
    const waiter: Agent = {
      name: 'waiter',
      async run(ctx) {
        await ctx.step('true');
        // Thinking, with nothing running in the sandbox: only the run's signal can tell.
        await new Promise<void>((_resolve, reject) => {
          between.open();
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error), { once: true });
        });
        return { exitCode: 0 };
      },
    };
    const s = setup({ agents: [waiter] });
    const { done } = s.begin({ agent: 'waiter', steps: [] });
    await between.opened;
    s.sandbox().die('the container bosun-x exited with code 137');
    const final = await done;
    expect(final).toMatchObject({
      status: 'FAILED',
      failureReason: 'SANDBOX_ERROR',
      error: 'the sandbox container stopped unexpectedly: the container bosun-x exited with code 137',
    });
    expect(s.engineLost).toEqual([]);
    expect(s.sandbox().lifecycle).toEqual(['dispose']);
  });

  it('stops watching the sandbox once the run is over', async () => {
    const s = setup();
    const final = await s.run({ steps: ['true'] });
    expect(final.status).toBe('SUCCEEDED');
    expect(s.sandbox().exitWatchers).toBe(0);
  });

  it('records a step ended by its interrupt with the exit code the signal left, and goes on', async () => {
    const client = new AbortController();
    const caller: Agent = {
      name: 'caller',
      async run(ctx) {
        const outcome = await ctx.step('sleep 1000', { interrupt: client.signal });
        const next = await ctx.step('true');
        return { exitCode: outcome.interrupted && next.exitCode === 0 ? 0 : 1 };
      },
    };
    const s = setup({ agents: [caller] });
    s.provider.on('sleep 1000', { hang: true, onRun: () => client.abort(new Error('the client went away')) });
    const final = await s.run({ agent: 'caller', steps: [] });
    expect(final).toMatchObject({ status: 'SUCCEEDED' });
    expect(final.steps.map((step) => [step.index, step.exitCode, step.finishedAt !== null])).toEqual([
      [1, 143, true],
      [2, 0, true],
    ]);
    expect(await s.logs(final.id)).toContain('SYSTEM:1:step 1 stopped: the client went away (exit 143)');
    expect(s.sandbox().execs[0]!.options).toMatchObject({ interrupt: client.signal, timeoutGraceMs: STOP_GRACE_MS });
  });

  it('reports an agent that throws as SANDBOX_ERROR with its message', async () => {
    const broken: Agent = {
      name: 'broken',
      run() {
        return Promise.reject(new TypeError('undefined is not a function'));
      },
    };
    const s = setup({ agents: [broken] });
    const final = await s.run({ agent: 'broken', steps: [] });
    expect(final).toMatchObject({ status: 'FAILED', failureReason: 'SANDBOX_ERROR', error: 'agent error: undefined is not a function' });
    expect(s.sandbox().disposed).toBe(true);
  });

  it('fails a run whose agent is not registered before creating a sandbox', async () => {
    const s = setup();
    const final = await s.run({ agent: 'gone' });
    expect(final).toMatchObject({ status: 'FAILED', error: 'agent "gone" is not registered', containerId: null, startedAt: null });
    expect(s.provider.created).toEqual([]);
  });

  it('reports a create that fails (an image gone since admission) as SANDBOX_ERROR, with nothing to remove', async () => {
    const s = setup();
    const final = await s.run({ image: 'bosun-gone:1' });
    expect(final).toMatchObject({ status: 'FAILED', failureReason: 'SANDBOX_ERROR', containerId: null, error: 'no such image: bosun-gone:1' });
    expect(s.provider.created).toEqual([]);
    expect(s.engineLost).toEqual([]);
  });
});

describe('engine loss', () => {
  it('fails the run as engine lost, tells the guard once, and leaves the sandbox for reaping after three removal attempts', async () => {
    const s = setup();
    s.provider.on('sleep 1000', { hang: true, onRun: () => s.provider.loseEngine() });
    const removed: string[] = [];
    s.events.on('container-removed', ({ containerId }) => removed.push(containerId));
    const final = await s.run({ steps: ['sleep 1000'] });
    const sandbox = s.sandbox();
    expect(final).toMatchObject({ status: 'FAILED', failureReason: 'SANDBOX_ERROR' });
    expect(final.error).toMatch(/^lost the Docker engine while the run was running: /);
    expect(s.engineLost).toHaveLength(1);
    expect(s.engineLost[0]!.code).toBe('DOCKER_UNAVAILABLE');
    expect(sandbox.disposeCalls).toBe(3);
    expect(s.provider.forgotten).toEqual([sandbox]);
    expect(removed).toEqual([sandbox.id]);
    expect((await s.logs(final.id)).some((line) => line.startsWith(`SYSTEM:-:could not remove container ${sandbox.id.slice(0, 12)} yet`))).toBe(true);
  });

  it('fails a run whose sandbox cannot be created because the engine is gone, and tells the guard', async () => {
    const s = setup();
    s.provider.loseEngine();
    const final = await s.run();
    expect(final).toMatchObject({ status: 'FAILED', failureReason: 'SANDBOX_ERROR', containerId: null });
    expect(final.error).toMatch(/^lost the Docker engine while the run was running: /);
    expect(s.engineLost).toHaveLength(1);
  });

  it('removes the sandbox after a transient removal failure without giving up on it', async () => {
    const s = setup();
    s.provider.onCreate = (sandbox) => (sandbox.disposeFailures = 2);
    const final = await s.run();
    expect(final.status).toBe('SUCCEEDED');
    expect(s.sandbox().disposeCalls).toBe(3);
    expect(s.sandbox().disposed).toBe(true);
    expect(s.provider.forgotten).toEqual([]);
  });
});

describe('the sandbox is gone before the final status', () => {
  it('holds the final status of a cancelled run until its slow stop and its removal are done', async () => {
    const s = setup();
    const controller = new AbortController();
    const stopGate = new Gate();
    const created = new Gate();
    let sandbox!: FakeSandbox;
    s.provider.onCreate = (made) => {
      sandbox = made;
      made.stopGate = stopGate;
      created.open();
    };
    s.provider.on('sleep 1000', { hang: true, onRun: () => controller.abort(new RunStopped('cancel')) });
    const order: string[] = [];
    s.events.on('container-removed', () => order.push('container-removed'));
    s.events.on('run-updated', (run) => {
      if (isFinalStatus(run.status)) order.push(`final ${run.status}`);
    });
    const { id, done } = s.begin({ steps: ['sleep 1000'] }, controller.signal);
    let settled = false;
    void done.then(() => (settled = true));
    await created.opened;
    // The stop has been asked for and is held open: nothing is final yet.
    await sandbox.stopAsked.opened;
    expect(sandbox.processStops).toEqual([{ graceMs: STOP_GRACE_MS }]);
    expect(settled).toBe(false);
    expect(sandbox.disposed).toBe(false);
    expect(order).toEqual([]);
    expect(s.provider.liveSandboxes()).toEqual([sandbox]);
    stopGate.open();
    const final = await done;
    expect(final).toMatchObject({ id, status: 'CANCELLED' });
    expect(sandbox.disposed).toBe(true);
    expect(order).toEqual(['container-removed', 'final CANCELLED']);
  });

  it.each([
    ['success', {}],
    ['a non-zero exit', { exitCode: 1 }],
    ['a dead sandbox', { error: new SandboxError('CONTAINER_GONE', 'gone') }],
  ])('emits container-removed before the final status on %s', async (_name, script) => {
    const s = setup();
    s.provider.on('step', script);
    const order: string[] = [];
    s.events.on('container-started', () => order.push('container-started'));
    s.events.on('container-removed', () => order.push('container-removed'));
    s.events.on('run-updated', (run) => {
      if (isFinalStatus(run.status)) order.push('final');
    });
    await s.run({ steps: ['step'] });
    expect(order).toEqual(['container-started', 'container-removed', 'final']);
  });
});

describe('the container environment', () => {
  it("sets the run's variables, HOME, the BOSUN_ variables over the run's own, and the context file", async () => {
    const s = setup();
    const final = await s.run({
      env: [
        { name: 'MY_VAR', value: 'hello' },
        { name: 'BOSUN_AGENT', value: 'spoofed' },
      ],
      limits: { cpus: 0.5, memoryBytes: 128 * MiB, pidsLimit: 100 },
      timeoutMs: 60_000,
      initialRepoContext: '# Failing job\n',
      user: '0:0',
    });
    const sandbox = s.sandbox();
    expect(sandbox.options).toMatchObject({
      runId: final.id,
      image: 'bosun-sandbox:latest',
      user: '0:0',
      limits: { cpus: 0.5, memoryBytes: 128 * MiB, pidsLimit: 100 },
    });
    expect(sandbox.options.env).toEqual({
      MY_VAR: 'hello',
      HOME: '/tmp',
      BOSUN_AGENT_ID: final.id,
      BOSUN_AGENT: 'shell',
      BOSUN_GROUP_ID: 'group-1',
      BOSUN_GROUP_NAME: 'flaky tests',
      BOSUN_WORKSPACE: '/workspace',
      BOSUN_CPU_LIMIT: '0.5',
      BOSUN_MEMORY_LIMIT_BYTES: String(128 * MiB),
      BOSUN_PIDS_LIMIT: '100',
      BOSUN_TIMEOUT_MS: '60000',
      BOSUN_CONTEXT_FILE: CONTEXT_FILE_PATH,
    });
    expect(sandbox.files.get(CONTEXT_FILE_PATH)).toBe('# Failing job\n');
  });

  it('keeps a HOME the run sets, writes no context file without initialRepoContext, and asks for no user by default', async () => {
    const s = setup();
    await s.run({ env: [{ name: 'HOME', value: '/workspace' }] });
    const sandbox = s.sandbox();
    expect(sandbox.options.env?.['HOME']).toBe('/workspace');
    expect(sandbox.options.env).not.toHaveProperty('BOSUN_CONTEXT_FILE');
    expect(sandbox.options).not.toHaveProperty('user');
    expect(sandbox.files.size).toBe(0);
  });
});

describe('artifacts', () => {
  /** A collection hook that records what the run's sandbox looked like when it was called. */
  function recordingHook(result: () => Promise<void> = () => Promise.resolve()) {
    const calls: { request: ArtifactRequest; stopped: boolean; stops: number; disposed: boolean }[] = [];
    const hook = (request: ArtifactRequest) => {
      const sandbox = request.sandbox as FakeSandbox;
      calls.push({ request, stopped: sandbox.stopped, stops: sandbox.stops.length, disposed: sandbox.disposed });
      request.log('artifacts: kept 1 file(s) (5 bytes) from /workspace/out');
      return result();
    };
    return { calls, hook };
  }

  it.each([
    ['success', { steps: ['true'] }, 'SUCCEEDED'],
    ['a failing step', { steps: ['exit 3'] }, 'FAILED'],
    ['the deadline', { steps: ['sleep 1000'], timeoutMs: 1 }, 'TIMED_OUT'],
  ] as const)('collects before the sandbox is stopped and removed, after %s', async (_name, config, status) => {
    const { calls, hook } = recordingHook();
    const s = setup({ collectArtifacts: hook });
    s.provider.on('exit 3', { exitCode: 3 });
    s.provider.on('sleep 1000', { hang: true });
    const final = await s.run({ ...config, artifacts: ['/workspace/out', '/tmp/log'] });
    expect(final.status).toBe(status);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ stopped: false, stops: 0, disposed: false });
    expect(s.sandbox().stops).toEqual([]);
    expect(calls[0]!.request).toMatchObject({ runId: final.id, paths: ['/workspace/out', '/tmp/log'], sandbox: s.sandbox() });
    expect(await s.logs(final.id)).toContain('SYSTEM:-:artifacts: kept 1 file(s) (5 bytes) from /workspace/out');
    expect(s.sandbox().disposed).toBe(true);
  });

  it('collects a cancelled run, and the run is not final until the collection is done', async () => {
    const release = new Gate();
    const { calls, hook } = recordingHook(() => release.opened);
    const s = setup({ collectArtifacts: hook });
    const controller = new AbortController();
    s.provider.on('sleep 1000', { hang: true, onRun: () => controller.abort(new RunStopped('cancel')) });
    const run = s.begin({ steps: ['sleep 1000'], artifacts: ['/workspace/out'] }, controller.signal);
    const finals: string[] = [];
    s.events.on('run-updated', (update) => {
      if (isFinalStatus(update.status)) finals.push(update.status);
    });
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    expect(finals).toEqual([]);
    release.open();
    const final = await run.done;
    expect(final.status).toBe('CANCELLED');
    expect(finals).toEqual(['CANCELLED']);
    expect(s.sandbox().processStops).toEqual([{ graceMs: STOP_GRACE_MS }]);
  });

  it.each([
    ['cancel', new RunStopped('cancel'), 'CANCELLED'],
    ['the deadline', new RunStopped('deadline'), 'TIMED_OUT'],
    ['a shutdown', new RunStopped('shutdown'), 'FAILED'],
  ] as const)('stops the processes, then collects, then removes, after %s', async (_name, reason, status) => {
    const s = setup({
      collectArtifacts: (request) => {
        const sandbox = request.sandbox as FakeSandbox;
        // What the collection sees: processes stopped (no command running), the sandbox and its files still there.
        sandbox.lifecycle.push(`collect (running ${sandbox.runningCommands}, stopped ${sandbox.stopped})`);
        return Promise.resolve();
      },
    });
    const controller = new AbortController();
    s.provider.on('work', { hang: true, onRun: () => controller.abort(reason) });
    const final = await s.run({ steps: ['work'], artifacts: ['/workspace/out'] }, controller.signal);
    expect(final.status).toBe(status);
    expect(s.sandbox().lifecycle).toEqual(['stopProcesses', 'collect (running 0, stopped false)', 'dispose']);
    expect(s.sandbox().stops).toEqual([]);
  });

  it('collects, then removes, without stopping processes, when the agent ended by itself', async () => {
    const s = setup({
      collectArtifacts: (request) => {
        (request.sandbox as FakeSandbox).lifecycle.push('collect');
        return Promise.resolve();
      },
    });
    await s.run({ steps: ['exit 3'], artifacts: ['/workspace/out'] });
    expect(s.sandbox().lifecycle).toEqual(['collect', 'dispose']);
  });

  it('kills the sandbox when its processes cannot be stopped, and says so', async () => {
    const s = setup({
      collectArtifacts: (request) => {
        (request.sandbox as FakeSandbox).lifecycle.push('collect');
        return Promise.resolve();
      },
    });
    s.provider.onCreate = (sandbox) => {
      sandbox.stopProcessesError = new SandboxError('DOCKER_ERROR', 'exec failed: resource temporarily unavailable');
    };
    const controller = new AbortController();
    s.provider.on('fork bomb', { hang: true, onRun: () => controller.abort(new RunStopped('cancel')) });
    const final = await s.run({ steps: ['fork bomb'], artifacts: ['/workspace/out'] }, controller.signal);
    expect(final.status).toBe('CANCELLED');
    expect(s.sandbox().lifecycle).toEqual(['stopProcesses', 'stop', 'collect', 'dispose']);
    expect(s.sandbox().stops).toEqual([{ graceMs: 0 }]);
    expect(await s.logs(final.id)).toContain(
      "SYSTEM:-:could not stop the run's processes and keep its sandbox (exec failed: resource temporarily unavailable); killing the sandbox",
    );
  });

  it('never lets a failing collection change the outcome', async () => {
    const { calls, hook } = recordingHook(() => Promise.reject(new Error('collector bug')));
    const s = setup({ collectArtifacts: hook });
    const final = await s.run({ steps: ['true'], artifacts: ['/workspace/out'] });
    expect(calls).toHaveLength(1);
    expect(final).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
    expect(s.sandbox().disposed).toBe(true);
  });

  it('does not call the hook for a run that names no path, or that got no sandbox', async () => {
    const paths: string[][] = [];
    const s = setup({ collectArtifacts: (request) => Promise.resolve(void paths.push([...request.paths])) });
    await s.run({ steps: ['true'] });
    await s.run({ steps: ['true'], artifacts: [] });
    await s.run({ image: 'bosun-gone:1', artifacts: ['/workspace/out'] });
    expect(paths).toEqual([]);
  });
});
