/**
 * External runs without an engine: the real queue, run service, external agent, session registry
 * and external run service, wired as the composition root wires them, over the fake sandbox with
 * its file calls. Everything settles on events.
 */
import { ExternalAgent } from '../../src/agents/external-agent.js';
import { ShellAgent } from '../../src/agents/shell-agent.js';
import { createSilentLogger } from '../../src/logger.js';
import { AgentExecutionQueue } from '../../src/queue/agent-execution-queue.js';
import { AgentRegistry } from '../../src/runs/agent-registry.js';
import type { AgentRun, StartAgentInput } from '../../src/runs/agent-run.js';
import { isFinalStatus } from '../../src/runs/agent-run.js';
import { AgentRunService } from '../../src/runs/agent-run-service.js';
import { ExternalRunService } from '../../src/runs/external/external-run-service.js';
import { ExternalSessions } from '../../src/runs/external/external-sessions.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { FakeSandboxProvider } from './fake-sandbox.js';
import { withFileCalls, type FakeFileCalls } from './fake-sandbox-files.js';

export interface ExternalHarness extends AsyncDisposable {
  readonly provider: FakeSandboxProvider;
  readonly files: FakeFileCalls;
  readonly runs: AgentRunService;
  readonly sessions: ExternalSessions;
  readonly external: ExternalRunService;
  readonly store: SqliteRunStore;
  /** Starts a run (`external` unless the config says otherwise); resolves with its id. */
  start(config?: StartAgentInput['config']): Promise<string>;
  /** Resolves once the run has this status (now or later). */
  status(id: string, accept: (run: AgentRun) => boolean): Promise<AgentRun>;
  final(id: string): Promise<AgentRun>;
  /** Resolves once the run's session is open (its set-up done). */
  opened(id: string): Promise<void>;
  /** `STREAM:step:line` of each log line of the run. */
  logs(id: string): Promise<string[]>;
}

export function startExternalHarness(options: { maxConcurrency?: number; idleTimeoutMs?: number } = {}): ExternalHarness {
  const store = new SqliteRunStore(openDatabase(':memory:'), { logLinesPerRun: 10_000 });
  const queue = new AgentExecutionQueue({
    runTask: (id, signal) => runs.runTask(id, signal),
    maxConcurrency: options.maxConcurrency ?? 2,
    maxQueueLength: 10,
    queueTimeoutMs: 600_000,
  });
  const provider = new FakeSandboxProvider();
  const files = withFileCalls(provider);
  const sessions = new ExternalSessions();
  const runs: AgentRunService = new AgentRunService({
    store,
    queue,
    sandboxes: provider,
    agents: new AgentRegistry([new ShellAgent(), new ExternalAgent({ sessions })]),
    defaults: {
      agent: 'shell',
      image: 'bosun-sandbox:latest',
      limits: { cpus: 1, memoryBytes: 256 * 1024 ** 2, pidsLimit: 100 },
      timeoutMs: 60_000,
      ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
    },
    queueTimeoutMs: 600_000,
    stopGraceMs: 10,
    logger: createSilentLogger(),
  });
  const external = new ExternalRunService({ runs, sessions, uploadMaxBytes: 1024 * 1024, extractMaxBytes: 8 * 1024 * 1024 });
  const status = (id: string, accept: (run: AgentRun) => boolean) =>
    new Promise<AgentRun>((resolve) => {
      const check = (run: AgentRun) => {
        if (run.id !== id || !accept(run)) return;
        runs.events.off('run-updated', check);
        resolve(run);
      };
      runs.events.on('run-updated', check);
      // Followed first: an update made while the run is read is not missed.
      void runs.get(id).then((now) => {
        if (now) check(now);
      });
    });
  return {
    provider,
    files,
    runs,
    sessions,
    external,
    store,
    async start(config = {}) {
      const { run } = await runs.start({ group: { id: 'g', name: 'g' }, config: { agent: 'external', ...config } });
      return run.id;
    },
    status,
    final: (id) => status(id, (run) => isFinalStatus(run.status)),
    async opened(id) {
      while (sessions.openSession(id) === undefined) {
        // Waited for from before the read, so that a change made while the run is read is not missed.
        const change = sessions.nextChange(id);
        const run = await runs.get(id);
        if (run && isFinalStatus(run.status)) throw new Error(`run ${id} ended (${run.status}) before its session opened`);
        await change;
      }
    },
    logs: async (id) => (await store.readLogs(id)).map((line) => `${line.stream}:${line.step ?? '-'}:${line.line}`),
    async [Symbol.asyncDispose]() {
      await runs.shutdown();
      external[Symbol.dispose]();
    },
  };
}
