/**
 * Runs in the API, in one place: the run enums, `AgentRun` and its parts (failure group, limits,
 * steps, log lines), `startAgent`'s input and reply, and every field that reads, changes or
 * follows runs. `agent`, `image` and `limits` come from the run's validated config; `position`
 * and `logs` from the run service; `peak`, `samples` and `alerts` from the monitor. The streams
 * behind `agentRunUpdated` and `agentLogs` are in run-streams.ts.
 */
import type { QueueTicket } from '../queue/execution-queue.js';
import type { AgentRun, AgentStatus, FailureReason, LogLine, LogStream, StartAgentInput } from '../runs/agent-run.js';
import type { ResourceSample } from '../monitor/monitor-types.js';
import { afterSeq, lastCount, listLimit, optionalId, requireId } from './arguments.js';
import type { BosunBuilder } from './builder.js';
import type { BosunServices } from './context.js';
import { agentLogs, agentRunUpdated } from './run-streams.js';
import { unwrapStreamItem } from './streams/event-channel.js';

const AGENT_STATUSES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'] as const satisfies readonly AgentStatus[];
const FAILURE_REASONS = {
  NON_ZERO_EXIT: {},
  OOM_KILLED: {},
  QUEUE_TIMEOUT: {},
  RUN_TIMEOUT: {},
  SANDBOX_ERROR: {},
  INTERRUPTED: {},
  QUEUE_FULL: {
    description:
      'The run was waiting when bosun stopped, and at the next start the line was full: MAX_QUEUE_LENGTH is lower than the runs that waited.',
  },
} as const satisfies Record<FailureReason, { readonly description?: string }>;
const LOG_STREAMS = ['STDOUT', 'STDERR', 'SYSTEM'] as const satisfies readonly LogStream[];

/** `startAgent`'s reply. */
export interface StartAgentPayload {
  readonly agentId: string;
  readonly status: AgentStatus;
  readonly queue: QueueTicket;
  readonly run: AgentRun;
}

export interface AgentRunsArgs {
  readonly status?: readonly AgentStatus[] | null;
  readonly limit?: number | null;
}

/**
 * Runs newest first, optionally of some statuses.
 * @throws BosunError BAD_USER_INPUT when `limit` is not 1..500.
 */
export function agentRuns(services: Pick<BosunServices, 'runs'>, args: AgentRunsArgs): readonly AgentRun[] {
  const limit = listLimit(args.limit);
  return services.runs.list({ status: args.status ?? null, limit }).slice(0, limit);
}

export interface RunLogsArgs {
  readonly afterSeq?: number | null;
  readonly last?: number | null;
}

/**
 * `AgentRun.logs`: buffered log lines of the run.
 * @throws BosunError BAD_USER_INPUT when `afterSeq` or `last` is negative.
 */
export function runLogs(services: Pick<BosunServices, 'runs'>, run: AgentRun, args: RunLogsArgs): readonly LogLine[] {
  return services.runs.logs(run.id, { afterSeq: afterSeq(args.afterSeq) ?? null, last: lastCount(args.last) ?? null });
}

/**
 * `AgentRun.samples`: the run's samples in the monitor's history window.
 * @throws BosunError BAD_USER_INPUT when `last` is negative.
 */
export function runSamples(
  services: Pick<BosunServices, 'monitor'>,
  run: AgentRun,
  args: { readonly last?: number | null },
): readonly ResourceSample[] {
  return services.monitor.samples({ runId: run.id, last: lastCount(args.last) ?? null });
}

/** @throws BosunError BAD_USER_INPUT, QUEUE_FULL, DOCKER_UNAVAILABLE, SHUTTING_DOWN (from the run service). */
export async function startAgent(services: Pick<BosunServices, 'runs'>, input: StartAgentInput): Promise<StartAgentPayload> {
  const { run, ticket } = await services.runs.start(input);
  return { agentId: run.id, status: run.status, queue: ticket, run };
}

/** @throws BosunError NOT_FOUND, INVALID_STATE, plus those of startAgent (from the run service). */
export async function retryAgent(services: Pick<BosunServices, 'runs'>, id: string): Promise<StartAgentPayload> {
  const { run, ticket } = await services.runs.retry(id);
  return { agentId: run.id, status: run.status, queue: ticket, run };
}

/**
 * Registers the run types and fields on `builder`.
 * @returns the AgentStatus enum, which queue.ts uses too.
 */
export function addRuns(builder: BosunBuilder) {
  const AgentStatus = builder.enumType('AgentStatus', {
    description: 'Where a run stands. SUCCEEDED, FAILED, CANCELLED and TIMED_OUT are final.',
    values: AGENT_STATUSES,
  });
  const FailureReason = builder.enumType('FailureReason', {
    description: 'Why a run did not succeed.',
    values: FAILURE_REASONS,
  });
  const LogStream = builder.enumType('LogStream', {
    description: 'Where a log line came from: the sandbox process, or bosun itself (SYSTEM).',
    values: LOG_STREAMS,
  });

  builder.objectType('FailureGroup', {
    description: 'The group of failing CI runs an agent works on.',
    fields: (t) => ({
      id: t.exposeString('id'),
      name: t.exposeString('name'),
      runIds: t.exposeStringList('runIds'),
    }),
  });

  builder.objectType('ResourceLimits', {
    description: "The sandbox container's limits.",
    fields: (t) => ({
      cpus: t.exposeFloat('cpus'),
      memoryBytes: t.exposeFloat('memoryBytes'),
      pidsLimit: t.exposeInt('pidsLimit'),
    }),
  });

  builder.objectType('StepResult', {
    fields: (t) => ({
      index: t.exposeInt('index'),
      command: t.exposeString('command'),
      exitCode: t.exposeInt('exitCode', { nullable: true }),
      startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
      finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
    }),
  });

  builder.objectType('LogLine', {
    fields: (t) => ({
      agentId: t.exposeID('runId'),
      seq: t.exposeInt('seq', { description: '1-based, increasing by one per line of the run.' }),
      stream: t.expose('stream', { type: LogStream }),
      step: t.exposeInt('step', { nullable: true, description: "The step's index; null outside a step." }),
      line: t.exposeString('line'),
      at: t.expose('at', { type: 'DateTime' }),
    }),
  });

  builder.objectType('AgentRun', {
    description: 'One agent run in its sandbox: what was asked, where it stands, what it produced.',
    fields: (t) => ({
      id: t.exposeID('id'),
      status: t.expose('status', { type: AgentStatus }),
      failureReason: t.expose('failureReason', { type: FailureReason, nullable: true }),
      error: t.exposeString('error', { nullable: true }),
      group: t.expose('group', { type: 'FailureGroup' }),
      agent: t.string({ resolve: (run) => run.config.agent }),
      image: t.string({ resolve: (run) => run.config.image }),
      limits: t.field({ type: 'ResourceLimits', resolve: (run) => run.config.limits }),
      position: t.int({
        description: '1 = next to start; 0 = not waiting.',
        resolve: (run, _args, ctx) => ctx.services.runs.position(run.id),
      }),
      containerId: t.exposeString('containerId', { nullable: true }),
      exitCode: t.exposeInt('exitCode', { nullable: true }),
      steps: t.expose('steps', { type: ['StepResult'] }),
      queuedAt: t.expose('queuedAt', { type: 'DateTime' }),
      startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
      finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
      retryOf: t.exposeID('retryOf', { nullable: true, description: 'The run this one retries (`retryAgent`).' }),
      warmStart: t.exposeBoolean('warmStart', {
        description:
          "True when the run's sandbox was taken from the warm pool (created, started and frozen ahead of time), false when it was " +
          'created for the run (or the run has no sandbox yet). Nothing else about the run differs: limits, env, user, an empty workspace.',
      }),
      peak: t.field({
        type: 'ResourcePeak',
        nullable: true,
        description: "The highest values the run's container reached.",
        resolve: (run, _args, ctx) => ctx.services.monitor.peakForAgent(run.id) ?? null,
      }),
      logs: t.field({
        type: ['LogLine'],
        description: 'Buffered log lines: those after `afterSeq` (≥ 0), of which the `last` (≥ 0).',
        args: { afterSeq: t.arg.int(), last: t.arg.int() },
        resolve: (run, args, ctx) => runLogs(ctx.services, run, args),
      }),
      samples: t.field({
        type: ['ResourceSample'],
        description: 'Samples kept in the history window, oldest first; the `last` (≥ 0) of them.',
        args: { last: t.arg.int() },
        resolve: (run, args, ctx) => runSamples(ctx.services, run, args),
      }),
      alerts: t.field({
        type: ['HealthAlert'],
        description: 'Every alert of the run, raised and resolved, oldest first.',
        resolve: (run, _args, ctx) => ctx.services.monitor.alertsForAgent(run.id),
      }),
    }),
  });

  // startAgent's input reaches the run service as it is; the service validates it and applies
  // the defaults (and throws BAD_USER_INPUT naming the field).
  const EnvVarInput = builder.inputType('EnvVarInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      value: t.string({ required: true }),
    }),
  });

  const FailureGroupInput = builder.inputType('FailureGroupInput', {
    description: 'The group of failing CI runs the agent is to work on.',
    fields: (t) => ({
      id: t.string({ required: true }),
      name: t.string({ required: true }),
      runIds: t.stringList(),
    }),
  });

  const AgentConfigInput = builder.inputType('AgentConfigInput', {
    description: 'What to run and with which limits; every field has a server default.',
    fields: (t) => ({
      agent: t.string({ description: 'A registered agent; default "shell".' }),
      image: t.string({ description: 'The sandbox image; default SANDBOX_IMAGE.' }),
      steps: t.stringList({ description: 'Shell commands, for the shell agent.' }),
      env: t.field({ type: [EnvVarInput] }),
      cpus: t.float({ description: 'CPUs, e.g. 0.5; default DOCKER_CPU_LIMIT.' }),
      memory: t.string({ description: 'A size such as "512m" or "2g"; default DOCKER_MEMORY_LIMIT.' }),
      pidsLimit: t.int({ description: 'Default DOCKER_PIDS_LIMIT.' }),
      timeoutMs: t.int({ description: 'Default AGENT_TIMEOUT_MS.' }),
      user: t.string({ description: 'The uid[:gid] to run as, e.g. "1000:1000"; default the non-root sandbox user (1000). "0" is root.' }),
    }),
  });

  const StartAgentInput = builder.inputType('StartAgentInput', {
    fields: (t) => ({
      group: t.field({ type: FailureGroupInput, required: true }),
      config: t.field({ type: AgentConfigInput, required: true }),
      initialRepoContext: t.string(),
    }),
  });

  const StartAgentPayload = builder.objectRef<StartAgentPayload>('StartAgentPayload').implement({
    fields: (t) => ({
      agentId: t.exposeID('agentId'),
      status: t.expose('status', { type: AgentStatus }),
      queue: t.expose('queue', { type: 'QueueTicket', description: 'Where the run stood right after it entered the line.' }),
      run: t.expose('run', { type: 'AgentRun' }),
    }),
  });

  builder.queryFields((t) => ({
    agentRun: t.field({
      type: 'AgentRun',
      nullable: true,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, args, ctx) => ctx.services.runs.get(requireId('id', args.id)) ?? null,
    }),
    agentRuns: t.field({
      type: ['AgentRun'],
      description: 'Runs newest first, of the given statuses if any; `limit` 1..500, default 50.',
      args: {
        status: t.arg({ type: [AgentStatus] }),
        limit: t.arg.int(),
      },
      resolve: (_root, args, ctx) => agentRuns(ctx.services, args),
    }),
  }));

  builder.mutationFields((t) => ({
    startAgent: t.field({
      type: StartAgentPayload,
      description: 'Validates the input, stores the run and puts it in line; replies at once.',
      args: { input: t.arg({ type: StartAgentInput, required: true }) },
      resolve: (_root, args, ctx) => {
        ctx.admitStart?.('startAgent');
        return startAgent(ctx.services, args.input);
      },
    }),
    retryAgent: t.field({
      type: StartAgentPayload,
      description: 'Starts a new run with the same input as a finished run, linked to it by `retryOf`.',
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, args, ctx) => {
        ctx.admitStart?.('retryAgent');
        return retryAgent(ctx.services, requireId('id', args.id));
      },
    }),
    cancelAgent: t.field({
      type: 'AgentRun',
      description: 'Cancels a waiting run at once, or stops a running one.',
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, args, ctx) => ctx.services.runs.cancel(requireId('id', args.id)),
    }),
  }));

  // Each `subscribe` returns a stream that follows the services' events; `resolve` hands each
  // event through, or rethrows the in-band failure that ends a stream (so the client gets a coded
  // error result, not a torn connection).
  builder.subscriptionFields((t) => ({
    agentRunUpdated: t.field({
      type: 'AgentRun',
      description: 'Every update of the run (of every run without `agentId`); for one run, completes after its final status.',
      args: { agentId: t.arg.id() },
      subscribe: (_root, args, ctx) => agentRunUpdated(ctx.services, ctx.streams, optionalId('agentId', args.agentId)),
      resolve: unwrapStreamItem,
    }),
    agentLogs: t.field({
      type: 'LogLine',
      description:
        'Buffered lines after `afterSeq` (≥ 0), then live lines, with no gap or duplicate; completes when the run is final and its last line is sent.',
      args: { agentId: t.arg.id({ required: true }), afterSeq: t.arg.int() },
      subscribe: (_root, args, ctx) => agentLogs(ctx.services, ctx.streams, requireId('agentId', args.agentId), args.afterSeq),
      resolve: unwrapStreamItem,
    }),
  }));

  return { AgentStatus };
}

/** The run refs other modules use. */
export type RunRefs = ReturnType<typeof addRuns>;
