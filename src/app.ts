/**
 * The composition root: builds the Docker client, sandbox manager, queue, run service, monitor
 * and server from one config, wires their events, and owns their shutdown. Nothing else in
 * bosun creates these; there are no module-level singletons.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { AgentRegistry } from './agents/agent-registry.js';
import type { Agent } from './agents/agent.js';
import { ShellAgent, SHELL_AGENT_NAME } from './agents/shell-agent.js';
import type { BosunConfig } from './config.js';
import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import { DockerMonitor } from './monitor/docker-monitor.js';
import { AgentExecutionQueue } from './queue/agent-execution-queue.js';
import { AgentRunService } from './runs/agent-run-service.js';
import { MemoryRunStore } from './runs/run-store.js';
import { createDockerClient } from './sandbox/docker-client.js';
import { SandboxManager } from './sandbox/sandbox-manager.js';
import { createBosunServer, type BosunServer } from './server/create-server.js';

export interface CreateAppOptions {
  readonly logger: Logger;
  /** Agents besides the built-in shell agent. */
  readonly agents?: readonly Agent[];
}

export interface BosunApp extends AsyncDisposable {
  readonly config: BosunConfig;
  readonly instanceId: string;
  readonly sandboxes: SandboxManager;
  readonly queue: AgentExecutionQueue;
  readonly runs: AgentRunService;
  readonly monitor: DockerMonitor;
  readonly server: BosunServer;
  /** Listens and starts the periodic health check; resolves with the GraphQL URL. */
  start(): Promise<{ url: string }>;
  /**
   * Stops admitting runs, stops running ones and removes their containers, closes the monitor,
   * then ends subscriptions and closes the server. Idempotent.
   */
  close(): Promise<void>;
}

export function createApp(config: BosunConfig, options: CreateAppOptions): BosunApp {
  const logger = options.logger;
  const instanceId = config.instanceId ?? `${hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 40)}-${randomUUID().slice(0, 8)}`;
  const docker = createDockerClient(config.docker);
  const sandboxes = new SandboxManager(docker, instanceId);
  const queue = new AgentExecutionQueue({
    maxConcurrency: config.maxConcurrentAgents,
    maxQueueLength: config.maxQueueLength,
    queueTimeoutMs: config.queueTimeoutMs,
  });
  const runs = new AgentRunService({
    store: new MemoryRunStore({ logLinesPerRun: config.logLinesPerRun, runRetentionCount: config.runRetentionCount }),
    queue,
    sandboxes,
    agents: new AgentRegistry([new ShellAgent(), ...(options.agents ?? [])]),
    defaults: {
      agent: SHELL_AGENT_NAME,
      image: config.sandboxImage,
      limits: config.defaultLimits,
      timeoutMs: config.agentTimeoutMs,
    },
    queueTimeoutMs: config.queueTimeoutMs,
    stopGraceMs: config.stopGraceMs,
    logger: logger.child({ component: 'runs' }),
  });
  const monitor = new DockerMonitor({
    config,
    source: sandboxes,
    queue,
    logger: logger.child({ component: 'monitor' }),
  });
  const detachMonitor = monitor.attachToRuns(runs.events);
  const server = createBosunServer({ config, services: { runs, queue, monitor }, logger });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      logger.info({}, 'shutting down');
      const step = async (name: string, action: () => Promise<void> | void) => {
        try {
          await action();
        } catch (error) {
          logger.error({ err: error }, `shutdown: ${name} failed: ${errorMessage(error)}`);
        }
      };
      await step('stop runs', () => runs.shutdown());
      await step('detach monitor', detachMonitor);
      await step('close monitor', () => monitor.close());
      await step('close server', () => server.close());
      // The safety net: nothing this instance created outlives it.
      await step('remove sandboxes', () => sandboxes.disposeAll());
      logger.info({}, 'shut down');
    })();
    return closing;
  };

  return {
    config,
    instanceId,
    sandboxes,
    queue,
    runs,
    monitor,
    server,
    async start() {
      const { url } = await server.listen();
      monitor.startMonitoring(config.healthCheckIntervalMs);
      logger.info({ instanceId, maxConcurrentAgents: config.maxConcurrentAgents, sandboxImage: config.sandboxImage }, 'bosun started');
      return { url };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
