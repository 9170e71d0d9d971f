/**
 * A real run lifecycle for tests: the p-queue execution queue, the Docker sandbox manager on the
 * real engine, and the run service, wired as the composition root wires them, with a unique
 * instance id so each test file finds (and cleans) only its own containers.
 */
import type Docker from 'dockerode';
import { AgentRegistry } from '../../src/runs/agent-registry.js';
import type { Agent } from '../../src/runs/agent.js';
import { ShellAgent } from '../../src/agents/shell-agent.js';
import { createSilentLogger } from '../../src/logger.js';
import { AgentExecutionQueue } from '../../src/queue/agent-execution-queue.js';
import type { AgentRun } from '../../src/runs/agent-run.js';
import { isFinalStatus } from '../../src/runs/agent-run.js';
import { AgentRunService } from '../../src/runs/agent-run-service.js';
import type { RunExecutorOptions } from '../../src/runs/run-executor.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { TEST_IMAGE, createTestDocker, removeLeftovers, testInstanceId } from './docker.js';

const MiB = 1024 ** 2;

export interface RunHarnessOptions {
  readonly maxConcurrency?: number;
  readonly maxQueueLength?: number;
  readonly queueTimeoutMs?: number;
  readonly stopGraceMs?: number;
  readonly logBytesPerRun?: number;
  readonly agents?: readonly Agent[];
  /** Called where the run service copies artifacts out (a run with `config.artifacts`). */
  readonly collectArtifacts?: RunExecutorOptions['collectArtifacts'];
}

export interface RunHarness extends AsyncDisposable {
  readonly docker: Docker;
  readonly instanceId: string;
  readonly queue: AgentExecutionQueue;
  readonly sandboxes: SandboxManager;
  readonly service: AgentRunService;
  /** Resolves with the run once it has a final status. */
  waitForFinal(id: string, timeoutMs?: number): Promise<AgentRun>;
  /** Shuts the service down and returns how many containers had to be removed by force (should be 0). */
  dispose(): Promise<number>;
}

export function createRunHarness(options: RunHarnessOptions = {}): RunHarness {
  const docker = createTestDocker();
  const instanceId = testInstanceId();
  const queue = new AgentExecutionQueue({
    runTask: (id, signal) => service.runTask(id, signal),
    maxConcurrency: options.maxConcurrency ?? 1,
    maxQueueLength: options.maxQueueLength ?? 1000,
    queueTimeoutMs: options.queueTimeoutMs ?? 300_000,
  });
  const sandboxes = new SandboxManager(docker, instanceId);
  const service: AgentRunService = new AgentRunService({
    store: new SqliteRunStore(openDatabase(':memory:'), { logLinesPerRun: 10_000 }),
    queue,
    sandboxes,
    agents: new AgentRegistry([new ShellAgent(), ...(options.agents ?? [])]),
    defaults: { agent: 'shell', image: TEST_IMAGE, limits: { cpus: 1, memoryBytes: 256 * MiB, pidsLimit: 256 }, timeoutMs: 120_000 },
    queueTimeoutMs: options.queueTimeoutMs ?? 300_000,
    stopGraceMs: options.stopGraceMs ?? 1_000,
    ...(options.logBytesPerRun === undefined ? {} : { logBytesPerRun: options.logBytesPerRun }),
    ...(options.collectArtifacts === undefined ? {} : { collectArtifacts: options.collectArtifacts }),
    logger: createSilentLogger(),
  });

  const waitForFinal = (id: string, timeoutMs = 60_000) =>
    new Promise<AgentRun>((resolve, reject) => {
      const check = (run: AgentRun) => {
        if (run.id === id && isFinalStatus(run.status)) {
          cleanup();
          resolve(run);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        void service.get(id).then((run) => reject(new Error(`run ${id} did not finish within ${timeoutMs} ms (status ${run?.status})`)));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        service.events.off('run-updated', check);
      };
      service.events.on('run-updated', check);
      // Followed first: a final update made while the run is read is not missed.
      void service.get(id).then((current) => {
        if (current) check(current);
      });
    });

  const dispose = async () => {
    await service.shutdown();
    return removeLeftovers(docker, instanceId);
  };

  return {
    docker,
    instanceId,
    queue,
    sandboxes,
    service,
    waitForFinal,
    dispose,
    [Symbol.asyncDispose]: async () => {
      await dispose();
    },
  };
}

/** A minimal valid startAgent input for the shell agent. */
export function shellInput(steps: string[], config: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return {
    group: { id: 'group-1', name: 'failing CI', runIds: ['ci-1'] },
    config: { steps, ...config },
    ...extra,
  };
}
