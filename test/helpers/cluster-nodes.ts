/**
 * bosun cluster nodes as child processes (issue #17's "three nodes playing three hosts"), started
 * with test/helpers/child-server.ts on one Redis and one PostgreSQL, each with its own name and
 * instance id; and what the tests of such a cluster read from outside: a run as any node answers
 * for it, the order in which the cluster's workers took runs (from Redis), and the nodes' containers
 * as the engine reports them.
 */
import type Docker from 'dockerode';
import { Redis } from 'ioredis';
import { LABEL_INSTANCE, LABEL_MANAGED } from '../../src/sandbox/labels.js';
import { queueKeys } from '../../src/queue/bullmq-scripts.js';
import { freePort, startChildServer, type ChildServer } from './child-server.js';
import { testInstanceId } from './docker.js';
import { FINAL_STATUSES, gql, until } from './e2e.js';
import { postGraphQL, type GraphQLResponse } from './graphql-clients.js';

/** How long a node may take to stop on SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 20_000;
/** A child compiles the sources with tsx as it starts: slow on a loaded machine. */
const READY_TIMEOUT_MS = 60_000;
/** BullMQ's events stream of bosun's line (its default prefix and queue name). */
const EVENTS_KEY = queueKeys('bosun', 'runs').events;

/** A node to start: its name (BOSUN_NODE_NAME) and variables of its own. */
export interface NodeSpec {
  readonly name: string;
  readonly env?: Record<string, string>;
}

/** A node started by {@link ChildNodes}. */
export interface TestNode {
  readonly name: string;
  /** BOSUN_INSTANCE_ID: the label of its containers, kept across {@link ChildNodes.restart}. */
  readonly instanceId: string;
  /** What it was started with: a restart uses the same. */
  readonly env: Record<string, string>;
  server: ChildServer;
  /** http://127.0.0.1:PORT/graphql (a new port after a restart). */
  url: string;
  wsUrl: string;
}

/**
 * The nodes a test starts, live or killed, until {@link ChildNodes.stopAll}. Every node gets the
 * shared PostgreSQL, a lease of `leaseMs`, an in-memory SQLite it does not use, small containers and
 * a quick shutdown.
 */
export class ChildNodes {
  readonly #nodes: TestNode[] = [];

  constructor(private readonly options: { readonly databaseUrl: string; readonly leaseMs: number }) {}

  /** The nodes started since the last {@link stopAll}. */
  get nodes(): readonly TestNode[] {
    return this.#nodes;
  }

  /** Starts the nodes at once on `redisUrl`; resolves when each answers /health. */
  start(specs: readonly NodeSpec[], redisUrl: string): Promise<TestNode[]> {
    return Promise.all(
      specs.map(async ({ name, env = {} }) => {
        const instanceId = testInstanceId();
        const port = await freePort();
        const nodeEnv = {
          REDIS_URL: redisUrl,
          BOSUN_DB_URL: this.options.databaseUrl,
          BOSUN_NODE_NAME: name,
          BOSUN_INSTANCE_ID: instanceId,
          NODE_LEASE_MS: String(this.options.leaseMs),
          BOSUN_DB_PATH: ':memory:',
          DOCKER_MEMORY_LIMIT: '256m',
          STOP_GRACE_MS: '1000',
          SHUTDOWN_GRACE_MS: '0',
          HEALTH_CHECK_INTERVAL_MS: '1000',
          // Where the other nodes send calls on its runs.
          BOSUN_NODE_URL: nodeUrl(port),
          ...env,
        };
        const server = await startChildServer(nodeEnv, port, READY_TIMEOUT_MS);
        const node: TestNode = { name, instanceId, env: nodeEnv, server, url: server.url, wsUrl: toWs(server.url) };
        this.#nodes.push(node);
        return node;
      }),
    );
  }

  /** Starts a node again (after a kill -9) with the same name, instance id and settings, on a new port. */
  async restart(node: TestNode): Promise<void> {
    const port = await freePort();
    node.server = await startChildServer({ ...node.env, BOSUN_NODE_URL: nodeUrl(port) }, port, READY_TIMEOUT_MS);
    node.url = node.server.url;
    node.wsUrl = toWs(node.url);
  }

  /** Stops every node (SIGTERM, SIGKILL past a timeout) and forgets them; returns them (their instance ids to check). */
  async stopAll(): Promise<TestNode[]> {
    const nodes = this.#nodes.splice(0);
    await Promise.all(nodes.map((node) => stop(node)));
    return nodes;
  }

  /** The last output of every node, for a failed test's message. */
  describe(): string {
    return this.#nodes.map((node) => `--- ${node.name} (${node.instanceId}), last output:\n${node.server.output().slice(-6000)}`).join('\n');
  }
}

function nodeUrl(port: number): string {
  return `http://127.0.0.1:${port}`;
}

function toWs(url: string): string {
  return url.replace(/^http/, 'ws');
}

async function stop(node: TestNode): Promise<void> {
  if (!isAlive(node)) return;
  const child = node.server.process;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await node.server.exited;
  clearTimeout(timer);
}

/** Whether the node's process is still running. */
export function isAlive(node: TestNode): boolean {
  return node.server.process.exitCode === null && node.server.process.signalCode === null;
}

/** The fields of a run that {@link readRun} selects. */
export interface RunRow {
  readonly id: string;
  readonly status: string;
  readonly failureReason: string | null;
  readonly error: string | null;
  readonly node: string | null;
  readonly position: number;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

/** A run, as the node at `url` answers for it. */
export async function readRun(url: string, id: string): Promise<RunRow> {
  const data = await gql<{ agentRun: RunRow }>(
    url,
    'query ($id: ID!) { agentRun(id: $id) { id status failureReason error node position startedAt finishedAt } }',
    { id },
  );
  return data.agentRun;
}

export function isFinal(run: RunRow): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(run.status);
}

/** Polls until every run is final, read from `url`; resolves with them in the order of `ids`. */
export function waitForFinals(url: string, ids: readonly string[], ms: number): Promise<RunRow[]> {
  return until(`runs ${ids.join(', ')} to finish`, ms, async () => {
    const runs = await Promise.all(ids.map((id) => readRun(url, id)));
    return runs.every(isFinal) ? runs : undefined;
  });
}

/** Polls until the run has `status`, read from `url`. */
export function waitForStatus(url: string, id: string, status: string, ms = 30_000): Promise<RunRow> {
  return until(`run ${id} to be ${status}`, ms, async () => {
    const run = await readRun(url, id);
    return run.status === status ? run : undefined;
  });
}

/** Polls until the runs wait in line in the order of `ids` (positions 1, 2, …), as the node at `url` shows it. */
export function waitForLine(url: string, ids: readonly string[], what: string, ms = 10_000): Promise<true> {
  return until(what, ms, async () => {
    const runs = await Promise.all(ids.map((id) => readRun(url, id)));
    return runs.every((run, index) => run.status === 'QUEUED' && run.position === index + 1) ? true : undefined;
  });
}

/**
 * The runs the cluster started, in the order its workers took them: BullMQ's `active` events on the
 * line's events stream (each appended atomically with the take, whichever node took it), a run's
 * first one only.
 */
export async function startOrder(redisUrl: string): Promise<string[]> {
  const connection = new Redis(redisUrl);
  try {
    const entries = await connection.xrange(EVENTS_KEY, '-', '+');
    const order: string[] = [];
    for (const [, fields] of entries) {
      const event = new Map<string, string>();
      for (let i = 0; i + 1 < fields.length; i += 2) event.set(fields[i]!, fields[i + 1]!);
      const id = event.get('jobId');
      if (event.get('event') === 'active' && id !== undefined && !order.includes(id)) order.push(id);
    }
    return order;
  } finally {
    connection.disconnect();
  }
}

/** What {@link watchContainers} counted so far. */
export interface ContainerCounts {
  /** Containers of the nodes running now, and at most at once. */
  running: number;
  maxRunning: number;
  /** Start and die events seen. */
  starts: number;
  dies: number;
  /** The most containers one node ran at once. */
  maxPerNode: number;
  readonly perNode: Map<string, number>;
  /** The nodes that ran a container. */
  readonly nodes: Set<string>;
}

/**
 * Counts the start and die events of the nodes' containers (by their instance label) as the engine
 * reports them, from now until `stop()`.
 */
export async function watchContainers(docker: Docker, members: readonly TestNode[]): Promise<{ readonly counts: ContainerCounts; stop(): void }> {
  const nameOf = new Map(members.map((member) => [member.instanceId, member.name]));
  const stream = await docker.getEvents({ filters: { type: ['container'], event: ['start', 'die'], label: [`${LABEL_MANAGED}=true`] } });
  const counts: ContainerCounts = { running: 0, maxRunning: 0, starts: 0, dies: 0, maxPerNode: 0, perNode: new Map(), nodes: new Set() };
  let pending = '';
  stream.on('data', (chunk: Buffer) => {
    // One JSON object a line; a chunk may end mid-line.
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines.filter(Boolean)) {
      const event = JSON.parse(line) as { Action?: string; status?: string; Actor: { Attributes: Record<string, string> } };
      const node = nameOf.get(event.Actor.Attributes[LABEL_INSTANCE] ?? '');
      if (node === undefined) continue;
      const started = (event.Action ?? event.status) === 'start';
      const delta = started ? 1 : -1;
      if (started) counts.starts += 1;
      else counts.dies += 1;
      counts.nodes.add(node);
      counts.running += delta;
      counts.perNode.set(node, (counts.perNode.get(node) ?? 0) + delta);
      counts.maxRunning = Math.max(counts.maxRunning, counts.running);
      counts.maxPerNode = Math.max(counts.maxPerNode, counts.perNode.get(node)!);
    }
  });
  return { counts, stop: () => (stream as unknown as { destroy(): void }).destroy() };
}

const START_AGENT_ID = /* GraphQL */ `
  mutation ($input: StartAgentInput!) {
    startAgent(input: $input) {
      agentId
    }
  }
`;

/** Calls startAgent for a run of `steps`; answers the new run's id, or the errors. */
export async function tryStart(url: string, steps: readonly string[]): Promise<{ agentId?: string; errors?: GraphQLResponse['errors'] }> {
  const { body } = await postGraphQL<{ startAgent: { agentId: string } }>(url, START_AGENT_ID, {
    input: { group: { id: 'g-e2e', name: 'e2e' }, config: { steps } },
  });
  const agentId = body.data?.startAgent.agentId;
  return { ...(agentId === undefined ? {} : { agentId }), ...(body.errors === undefined ? {} : { errors: body.errors }) };
}
