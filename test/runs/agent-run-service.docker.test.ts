import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/runs/agent.js';
import { isFinalStatus } from '../../src/runs/agent-run.js';
import { BosunError } from '../../src/errors.js';
import { AgentRegistry } from '../../src/runs/agent-registry.js';
import { ShellAgent } from '../../src/agents/shell-agent.js';
import { createSilentLogger } from '../../src/logger.js';
import { AgentExecutionQueue } from '../../src/queue/agent-execution-queue.js';
import { AgentRunService } from '../../src/runs/agent-run-service.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { containersOf, createTestDocker, readInside, testInstanceId } from '../helpers/docker.js';
import { FakeSandboxProvider } from '../helpers/fake-sandbox.js';
import { makeRun } from '../helpers/fixtures.js';
import { reapRightAfterEachCreate } from '../helpers/reap-while-creating.js';
import { createRunHarness, shellInput, type RunHarness } from '../helpers/run-harness.js';

let harness: RunHarness | undefined;

function use(h: RunHarness): RunHarness {
  harness = h;
  return h;
}

afterEach(async () => {
  if (harness) expect(await harness.dispose()).toBe(0);
  harness = undefined;
});

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return error instanceof BosunError ? error.code : `not a BosunError: ${String(error)}`;
  }
}

describe('concurrency and order', () => {
  it('never runs more than maxConcurrency containers, and starts runs in enqueue order', async () => {
    const h = use(createRunHarness({ maxConcurrency: 2 }));
    const startOrder: string[] = [];
    h.queue.events.on('started', ({ id }) => startOrder.push(id));
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const live = await h.docker.listContainers({ filters: { label: [`bosun.instance=${h.instanceId}`] } });
        peak = Math.max(peak, live.length);
        await delay(100);
      }
    })();
    const ids: string[] = [];
    for (let i = 0; i < 6; i += 1) ids.push((await h.service.start(shellInput(['sleep 1']))).run.id);
    const finals = await Promise.all(ids.map((id) => h.waitForFinal(id)));
    sampling = false;
    await sampler;
    expect(finals.map((run) => run.status)).toEqual(Array(6).fill('SUCCEEDED'));
    expect(startOrder).toEqual(ids);
    expect(peak).toBeGreaterThanOrEqual(1);
    expect(peak).toBeLessThanOrEqual(2);
  });

  it('reports positions that only go down for a run waiting behind others', async () => {
    const h = use(createRunHarness({ maxConcurrency: 2 }));
    const ids: string[] = [];
    const tickets: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const { run, ticket } = await h.service.start(shellInput(['sleep 0.3']));
      ids.push(run.id);
      tickets.push(ticket.position);
    }
    const positions: number[] = [];
    let sixth = '';
    h.queue.events.on('position-changed', ({ id, position }) => {
      if (id === sixth) positions.push(position);
    });
    h.queue.events.on('started', ({ id }) => {
      if (id === sixth) positions.push(0);
    });
    const last = await h.service.start(shellInput(['true']));
    sixth = last.run.id;
    positions.unshift(last.ticket.position);
    await h.waitForFinal(sixth);
    expect(tickets).toEqual([0, 0, 1, 2, 3]);
    expect(positions).toEqual([4, 3, 2, 1, 0]);
  });
});

describe('queue limits', () => {
  it('times out a run that waits past the queue timeout, without ever creating its container', async () => {
    const h = use(createRunHarness({ maxConcurrency: 1, queueTimeoutMs: 1000 }));
    const blocker = await h.service.start(shellInput(['sleep 3']));
    const waiting = await h.service.start(shellInput(['echo never']));
    expect(waiting.ticket.position).toBe(1);
    const final = await h.waitForFinal(waiting.run.id, 10_000);
    expect(final).toMatchObject({ status: 'TIMED_OUT', failureReason: 'QUEUE_TIMEOUT', containerId: null, startedAt: null });
    expect(final.error).toMatch(/queue timeout of 1000 ms/);
    expect(await containersOf(h.docker, h.instanceId, waiting.run.id)).toEqual([]);
    await h.service.cancel(blocker.run.id);
  });

  it('refuses a run past MAX_QUEUE_LENGTH with QUEUE_FULL', async () => {
    const h = use(createRunHarness({ maxConcurrency: 1, maxQueueLength: 3 }));
    await h.service.start(shellInput(['sleep 5']));
    for (let i = 0; i < 3; i += 1) await h.service.start(shellInput(['true']));
    expect(await codeOf(h.service.start(shellInput(['true'])))).toBe('QUEUE_FULL');
    expect(await h.service.list({ status: ['QUEUED'] })).toHaveLength(3);
  });

  it('starts two more at once when maxConcurrency goes from 1 to 3', async () => {
    const h = use(createRunHarness({ maxConcurrency: 1 }));
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push((await h.service.start(shellInput(['sleep 2']))).run.id);
    expect(h.queue.stats()).toMatchObject({ running: 1, queued: 4 });
    await h.queue.setMaxConcurrency(3);
    expect(h.queue.stats()).toMatchObject({ running: 3, queued: 2 });
    expect(ids.map((id) => h.service.position(id))).toEqual([0, 0, 0, 1, 2]);
    for (const id of ids) await h.service.cancel(id);
  });
});

describe('run outcomes', () => {
  it('fails on the first non-zero step with its exit code, and runs no later step', async () => {
    const h = use(createRunHarness());
    const { run } = await h.service.start(shellInput(['echo one', 'exit 3', 'echo three']));
    const final = await h.waitForFinal(run.id);
    expect(final).toMatchObject({ status: 'FAILED', failureReason: 'NON_ZERO_EXIT', exitCode: 3, error: 'step 2 exited 3' });
    expect(final.steps.map((s) => [s.index, s.command, s.exitCode])).toEqual([
      [1, 'echo one', 0],
      [2, 'exit 3', 3],
    ]);
    const lines = (await h.service.logs(run.id)).map((l) => `${l.stream}:${l.step}:${l.line}`);
    expect(lines).toContain('STDOUT:1:one');
    expect(lines).toContain('SYSTEM:2:step 2 exited 3');
    expect(lines.some((l) => l.includes('three'))).toBe(false);
    expect(await containersOf(h.docker, h.instanceId, run.id)).toEqual([]);
  });

  it('reports a step that allocates past memory 32m as OOM_KILLED', async () => {
    const h = use(createRunHarness());
    const { run } = await h.service.start(shellInput(["x=$(head -c 134217728 /dev/zero | tr '\\0' a); echo survived"], { memory: '32m' }));
    const final = await h.waitForFinal(run.id);
    expect(final).toMatchObject({ status: 'FAILED', failureReason: 'OOM_KILLED', exitCode: 137 });
    expect(final.error).toMatch(/memory limit \(32m\)/);
  });

  it('kills a step that ignores SIGTERM at the deadline: TIMED_OUT within timeout + grace + 2 s, container gone', async () => {
    const h = use(createRunHarness({ stopGraceMs: 1000 }));
    const { run } = await h.service.start(shellInput(["trap '' TERM; sleep 1000"], { timeoutMs: 2000 }));
    const final = await h.waitForFinal(run.id, 30_000);
    expect(final).toMatchObject({ status: 'TIMED_OUT', failureReason: 'RUN_TIMEOUT' });
    expect(final.finishedAt!.getTime() - final.startedAt!.getTime()).toBeLessThan(2000 + 1000 + 2000);
    expect((await h.service.logs(run.id)).map((l) => l.line)).toContain('killed: run deadline of 2000 ms');
    expect(await containersOf(h.docker, h.instanceId, run.id)).toEqual([]);
  });

  it('reports a container killed from outside as a sandbox error, and removes it', async () => {
    const h = use(createRunHarness());
    const { run } = await h.service.start(shellInput(['sleep 1000']));
    while (!(await h.service.get(run.id))?.containerId) await delay(50);
    await delay(300);
    await h.docker.getContainer((await h.service.get(run.id))!.containerId!).kill();
    const final = await h.waitForFinal(run.id);
    expect(final.status).toBe('FAILED');
    expect(['SANDBOX_ERROR', 'NON_ZERO_EXIT']).toContain(final.failureReason);
    expect(await containersOf(h.docker, h.instanceId, run.id)).toEqual([]);
  });
});

describe('cancel', () => {
  it('cancels a waiting run at once and moves the others up', async () => {
    const h = use(createRunHarness({ maxConcurrency: 1 }));
    const first = await h.service.start(shellInput(['sleep 5']));
    const second = await h.service.start(shellInput(['true']));
    const third = await h.service.start(shellInput(['true']));
    const cancelled = await h.service.cancel(second.run.id);
    expect(cancelled).toMatchObject({ status: 'CANCELLED', failureReason: null, containerId: null });
    expect(h.service.position(third.run.id)).toBe(1);
    expect(await codeOf(h.service.cancel(second.run.id))).toBe('INVALID_STATE');
    await h.service.cancel(first.run.id);
  });

  it('stops a running run: CANCELLED, container gone', async () => {
    const h = use(createRunHarness());
    const { run } = await h.service.start(shellInput(['sleep 1000']));
    while (!(await h.service.get(run.id))?.steps.length) await delay(50);
    const cancelled = await h.service.cancel(run.id);
    expect(cancelled.status).toBe('CANCELLED');
    expect(await containersOf(h.docker, h.instanceId, run.id)).toEqual([]);
    expect(await codeOf(h.service.cancel(run.id))).toBe('INVALID_STATE');
  });

  it("stops the processes before the artifacts are copied: only the container's init and keep-alive are left, the container runs", async () => {
    const seen: { top: string[]; pids: string; running: boolean; files: string }[] = [];
    const h = use(
      createRunHarness({
        stopGraceMs: 500,
        collectArtifacts: async (request) => {
          const docker = createTestDocker();
          const id = (request.sandbox as unknown as { id: string }).id;
          // dockerode types top() as any; the engine answers titles and one row of columns per process.
          const top = (await docker.getContainer(id).top()) as { Titles: string[]; Processes: string[][] };
          const column = top.Titles.indexOf('CMD');
          seen.push({
            top: top.Processes.map((process) => process[column]!),
            pids: await readInside(
              docker,
              id,
              'for p in $(cat /workspace/step.pid /workspace/child.pid); do [ -e /proc/$p ] && echo "$p alive"; done; exit 0',
            ),
            running: (await docker.getContainer(id).inspect()).State.Running,
            files: await readInside(docker, id, 'ls /workspace'),
          });
        },
      }),
    );
    const step = [
      'echo $$ > /workspace/step.pid',
      "(trap '' TERM; exec sleep 1000) &",
      'echo $! > /workspace/child.pid',
      'echo ready',
      'while :; do sleep 0.1; done',
    ].join('\n');
    const { run } = await h.service.start(shellInput([step], { artifacts: ['/workspace/out'] }));
    await new Promise<void>((resolve) => {
      const check = async () => {
        // (A run that ended without printing it fails the expectations below at once.)
        if (!(await h.service.logs(run.id)).some((line) => line.line === 'ready') && !isFinalStatus((await h.service.get(run.id))!.status)) return;
        h.service.events.off('log', onLog);
        resolve();
      };
      const onLog = () => void check();
      h.service.events.on('log', onLog);
      void check();
    });
    expect((await h.service.cancel(run.id)).status).toBe('CANCELLED');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.top).toEqual([expect.stringMatching(/^\/sbin\/docker-init -- /) as string, 'sleep 2147483647']);
    expect(seen[0]!.pids).toBe('');
    expect(seen[0]!.running).toBe(true);
    expect(seen[0]!.files.split('\n')).toEqual(['child.pid', 'step.pid']);
    expect(await containersOf(h.docker, h.instanceId, run.id)).toEqual([]);
  });

  it('refuses an unknown id with NOT_FOUND', async () => {
    const h = use(createRunHarness());
    expect(await codeOf(h.service.cancel('no-such-run'))).toBe('NOT_FOUND');
    await expect(h.service.logs('no-such-run')).rejects.toThrow(BosunError);
  });
});

describe('logs and environment', () => {
  it('keeps a run that prints 200 MB within its log budget: the head, a notice, and the tail', async () => {
    const h = use(createRunHarness({ logBytesPerRun: 1024 * 1024 }));
    const { run } = await h.service.start(shellInput(["head -c 204800000 /dev/zero | tr '\\0' a | fold -w 1000; echo; echo the-last-line"]));
    const final = await h.waitForFinal(run.id, 120_000);
    expect(final.status).toBe('SUCCEEDED');
    const lines = await h.service.logs(run.id);
    const output = lines.filter((l) => l.stream === 'STDOUT');
    const bytes = output.reduce((sum, l) => sum + l.line.length + 1, 0);
    expect(bytes).toBeLessThanOrEqual(1024 * 1024 + 100 * 1001);
    expect(output.at(-1)!.line).toBe('the-last-line');
    const notice = lines.find((l) => l.stream === 'SYSTEM' && l.line.startsWith('output over the 1m log budget'));
    expect(notice?.line).toMatch(/: \d+ line\(s\), \d+ byte\(s\) not kept; the last 100 line\(s\) follow$/);
    expect(output.filter((l) => l.seq > notice!.seq)).toHaveLength(100);
  }, 150_000);

  it('keeps a step printing 50 MB of empty lines within its budget of lines: the head, a notice, and the tail', async () => {
    // 512 KiB at 64 bytes a line: 8,192 lines (before: 50 M rows, 88 s of bosun's CPU).
    const h = use(createRunHarness({ logBytesPerRun: 512 * 1024 }));
    const { run } = await h.service.start(shellInput(["yes '' | head -c 50000000; echo the-last-line"]));
    const final = await h.waitForFinal(run.id, 120_000);
    expect(final.status).toBe('SUCCEEDED');
    const lines = await h.service.logs(run.id);
    const notice = lines.find((l) => l.stream === 'SYSTEM' && l.line.startsWith('output over the 512k log budget (a line counts at least 64 bytes)'));
    expect(notice?.line).toMatch(/: 49991709 line\(s\), 49991709 byte\(s\) not kept; the last 100 line\(s\) follow$/);
    const output = lines.filter((l) => l.stream === 'STDOUT');
    expect(output.filter((l) => l.seq < notice!.seq)).toHaveLength(8_192);
    const tail = output.filter((l) => l.seq > notice!.seq);
    expect(tail).toHaveLength(100);
    expect(tail.at(-1)!.line).toBe('the-last-line');
    expect(lines.length).toBeLessThan(8_192 + 100 + 10);
  }, 150_000);

  it('keeps all 5,000 lines of a step, and reading after seq N returns exactly the lines after N', async () => {
    const h = use(createRunHarness());
    const { run } = await h.service.start(shellInput(['seq 1 5000']));
    await h.waitForFinal(run.id);
    const stdout = (await h.service.logs(run.id)).filter((l) => l.stream === 'STDOUT');
    expect(stdout.map((l) => l.line)).toEqual(Array.from({ length: 5000 }, (_, i) => String(i + 1)));
    const all = await h.service.logs(run.id);
    const n = stdout[2499]!.seq;
    const after = await h.service.logs(run.id, { afterSeq: n });
    expect(after.map((l) => l.seq)).toEqual(all.filter((l) => l.seq > n).map((l) => l.seq));
    expect(after[0]!.seq).toBe(n + 1);
    expect((await h.service.logs(run.id, { afterSeq: n, last: 3 })).map((l) => l.seq)).toEqual(all.slice(-3).map((l) => l.seq));
  });

  it('tells the agent its limits and context file, which holds initialRepoContext', async () => {
    const h = use(createRunHarness());
    const context = '# Failing job\npytest tests/test_api.py::test_login fails\n';
    const { run } = await h.service.start(
      shellInput(
        ['echo "$BOSUN_CPU_LIMIT $BOSUN_MEMORY_LIMIT_BYTES $BOSUN_PIDS_LIMIT $BOSUN_CONTEXT_FILE $MY_VAR $(pwd)"', 'cat "$BOSUN_CONTEXT_FILE"'],
        { cpus: 0.5, memory: '128m', pidsLimit: 100, env: [{ name: 'MY_VAR', value: 'hello' }] },
        { initialRepoContext: context },
      ),
    );
    const final = await h.waitForFinal(run.id);
    expect(final.status).toBe('SUCCEEDED');
    const stdout = (await h.service.logs(run.id)).filter((l) => l.stream === 'STDOUT').map((l) => l.line);
    expect(stdout[0]).toBe(`0.5 ${128 * 1024 * 1024} 100 /workspace/.bosun/context.md hello /workspace`);
    expect(stdout.slice(1)).toEqual(['# Failing job', 'pytest tests/test_api.py::test_login fails']);
    expect(final.config.limits).toEqual({ cpus: 0.5, memoryBytes: 128 * 1024 * 1024, pidsLimit: 100 });
  });
});

describe('recovery', () => {
  it('re-enters stored waiting runs in order, and fails the ones a shorter line cannot take without stopping', async () => {
    const store = new SqliteRunStore(openDatabase(':memory:'), { logLinesPerRun: 100 });
    const queuedAt = (s: number) => new Date(Date.parse('2026-11-26T10:00:00Z') + s * 1000);
    await store.insert(makeRun({ id: 'was-running', status: 'RUNNING', startedAt: queuedAt(0), queuedAt: queuedAt(0) }));
    for (const [i, id] of ['w1', 'w2', 'w3'].entries()) await store.insert(makeRun({ id, queuedAt: queuedAt(i + 1) }));
    const queue = new AgentExecutionQueue({
      runTask: (id, signal) => service.runTask(id, signal),
      maxConcurrency: 1,
      maxQueueLength: 2,
      queueTimeoutMs: 2_000_000_000,
    });
    await queue.pause();
    const service: AgentRunService = new AgentRunService({
      store,
      queue,
      sandboxes: new SandboxManager(createTestDocker(), testInstanceId()),
      agents: new AgentRegistry([new ShellAgent()]),
      defaults: {
        agent: 'shell',
        image: 'bosun-sandbox:latest',
        limits: { cpus: 1, memoryBytes: 256 * 1024 ** 2, pidsLimit: 100 },
        timeoutMs: 60_000,
      },
      queueTimeoutMs: 2_000_000_000,
      stopGraceMs: 100,
      logger: createSilentLogger(),
    });
    expect(await service.recover()).toEqual({ interrupted: 1, requeued: 2 });
    expect(queue.waitingIds()).toEqual(['w1', 'w2']);
    expect(await service.get('was-running')).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED' });
    expect(await service.get('w3')).toMatchObject({ status: 'FAILED' });
    expect((await service.get('w3'))!.error).toMatch(/queue is full/);
    await queue.close();
  });

  it('fails a stored waiting run whose agent is no longer registered at once, without creating a sandbox for it', async () => {
    const store = new SqliteRunStore(openDatabase(':memory:'), { logLinesPerRun: 100 });
    const now = Date.now();
    const retired = makeRun({ id: 'retired-agent', queuedAt: new Date(now - 2000) });
    await store.insert({ ...retired, config: { ...retired.config, agent: 'retired' } });
    await store.insert(makeRun({ id: 'still-fine', queuedAt: new Date(now - 1000) }));
    const queue = new AgentExecutionQueue({
      runTask: (id, signal) => service.runTask(id, signal),
      maxConcurrency: 1,
      maxQueueLength: 10,
      queueTimeoutMs: 60_000,
    });
    const sandboxes = new FakeSandboxProvider();
    const service: AgentRunService = new AgentRunService({
      store,
      queue,
      sandboxes,
      agents: new AgentRegistry([new ShellAgent()]),
      defaults: {
        agent: 'shell',
        image: 'bosun-sandbox:latest',
        limits: { cpus: 1, memoryBytes: 256 * 1024 ** 2, pidsLimit: 100 },
        timeoutMs: 60_000,
      },
      queueTimeoutMs: 60_000,
      stopGraceMs: 100,
      logger: createSilentLogger(),
    });
    const finished = new Promise<void>((resolve) =>
      service.events.on('run-updated', (run) => {
        if (run.id === 'still-fine' && run.status === 'SUCCEEDED') resolve();
      }),
    );
    expect(await service.recover()).toEqual({ interrupted: 0, requeued: 1 });
    expect(await service.get('retired-agent')).toMatchObject({
      status: 'FAILED',
      error: 'agent "retired" is no longer registered',
      containerId: null,
      startedAt: null,
    });
    expect((await service.logs('retired-agent')).map((l) => l.line)).toContain(
      'agent "retired" is no longer registered; the stored run cannot start',
    );
    await finished;
    expect(sandboxes.created.map((sandbox) => sandbox.options.runId)).toEqual(['still-fine']);
    await service.shutdown();
  });
});

describe('reaping', () => {
  it("never takes a starting run's container for an orphan: reaps while three runs are starting", async () => {
    const h = use(createRunHarness({ maxConcurrency: 3 }));
    const reaps = reapRightAfterEachCreate(h.docker, () => h.sandboxes.reapOrphans());
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push((await h.service.start(shellInput([`echo started-${i}`]))).run.id);
    const finals = await Promise.all(ids.map((id) => h.waitForFinal(id)));
    expect(finals.map((run) => [run.status, run.error])).toEqual(ids.map(() => ['SUCCEEDED', null]));
    expect(reaps.failures).toEqual([]);
    expect(reaps.reaped).toEqual([]);
    for (const [i, id] of ids.entries()) {
      expect((await h.service.logs(id)).filter((l) => l.stream === 'STDOUT').map((l) => l.line)).toEqual([`started-${i}`]);
    }
  });
});

describe('sandbox user', () => {
  it('runs as uid 1000 by default, and as the user a run asks for', async () => {
    const h = use(createRunHarness({ maxConcurrency: 2 }));
    const byDefault = await h.service.start(shellInput(['id -u; echo $HOME; touch $HOME/ok']));
    const asRoot = await h.service.start(shellInput(['id -u'], { user: '0:0' }));
    const [first, second] = await Promise.all([h.waitForFinal(byDefault.run.id), h.waitForFinal(asRoot.run.id)]);
    expect(first.status).toBe('SUCCEEDED');
    expect(second.status).toBe('SUCCEEDED');
    const stdout = async (id: string) => (await h.service.logs(id)).filter((l) => l.stream === 'STDOUT').map((l) => l.line);
    expect(await stdout(byDefault.run.id)).toEqual(['1000', '/tmp']);
    expect(await stdout(asRoot.run.id)).toEqual(['0']);
  });
});

describe('the Agent interface', () => {
  it('runs a second agent that writes a file, runs steps and logs through its context', async () => {
    const probe: Agent = {
      name: 'probe',
      async run(ctx) {
        ctx.log(`probing with ${ctx.limits.pidsLimit} pids`);
        await ctx.writeFile(`${ctx.workspaceDir}/plan.txt`, 'step-a\nstep-b\n');
        const listed = await ctx.step('cat plan.txt | wc -l');
        if (listed.exitCode !== 0) return { exitCode: listed.exitCode };
        const checked = await ctx.step('test "$(id -u)" = 1000');
        return { exitCode: checked.exitCode };
      },
    };
    const h = use(createRunHarness({ agents: [probe] }));
    const { run } = await h.service.start({ group: { id: 'g', name: 'g' }, config: { agent: 'probe' } });
    const final = await h.waitForFinal(run.id);
    expect(final).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
    expect(final.steps).toHaveLength(2);
    const lines = await h.service.logs(run.id);
    expect(lines.find((l) => l.stream === 'STDOUT')?.line.trim()).toBe('2');
    expect(lines.some((l) => l.stream === 'SYSTEM' && l.line === 'probing with 256 pids')).toBe(true);
  });

  it('refuses an unknown agent and empty steps for the shell agent before queueing', async () => {
    const h = use(createRunHarness());
    await expect(h.service.start({ group: { id: 'g', name: 'g' }, config: { agent: 'nope' } })).rejects.toThrow(
      /input\.config\.agent: expected a registered agent \(shell\), got "nope"/,
    );
    await expect(h.service.start(shellInput([]))).rejects.toThrow(
      /input\.config\.steps: expected at least one command for the shell agent, got an empty list/,
    );
    await expect(h.service.start(shellInput(['true'], { image: 'bosun-absent:1' }))).rejects.toThrow(
      /input\.config\.image: expected an image present in the Docker engine/,
    );
    expect(await h.service.list()).toHaveLength(0);
    expect(await containersOf(h.docker, h.instanceId)).toEqual([]);
  });
});

it('removes a container that was running when the service shuts down, marking the run INTERRUPTED; a waiting run stays queued', async () => {
  const h = createRunHarness({ maxConcurrency: 1 });
  const running = await h.service.start(shellInput(['sleep 1000']));
  const waiting = await h.service.start(shellInput(['true']));
  while (!(await h.service.get(running.run.id))?.steps.length) await delay(50);
  expect(await h.dispose()).toBe(0);
  expect(await h.service.get(running.run.id)).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED' });
  expect(await h.service.get(waiting.run.id)).toMatchObject({ status: 'QUEUED', failureReason: null });
  expect(await containersOf(h.docker, h.instanceId)).toEqual([]);
  await expect(h.service.start(shellInput(['true']))).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
});
