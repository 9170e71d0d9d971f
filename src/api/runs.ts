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
import { runGroup } from './failure-groups.js';
import { agentLogs, agentRunUpdated } from './run-streams.js';
import { unwrapStreamItem } from './streams/event-channel.js';

const AGENT_STATUSES = {
  QUEUED: { description: 'Waiting in the line for a slot (MAX_CONCURRENT_AGENTS).' },
  RUNNING: { description: 'In its sandbox: the container is being created, or the agent runs.' },
  SUCCEEDED: { description: 'Final: the agent finished with exit code 0.' },
  FAILED: { description: 'Final: see failureReason and error.' },
  CANCELLED: { description: 'Final: cancelAgent stopped it, waiting or running.' },
  TIMED_OUT: { description: 'Final: it waited longer than QUEUE_TIMEOUT_MS (QUEUE_TIMEOUT) or ran longer than its timeoutMs (RUN_TIMEOUT).' },
} as const satisfies Record<AgentStatus, { readonly description: string }>;
const FAILURE_REASONS = {
  NON_ZERO_EXIT: { description: 'A step (or the agent) exited with a code other than 0; later steps did not run.' },
  OOM_KILLED: { description: "The kernel killed a process at the container's memory limit." },
  QUEUE_TIMEOUT: { description: 'The run waited in the line longer than QUEUE_TIMEOUT_MS.' },
  RUN_TIMEOUT: { description: 'The run took longer than its timeoutMs: its processes got SIGTERM, then the container was killed.' },
  SANDBOX_ERROR: { description: 'The Docker engine was lost or refused an operation on the sandbox; `error` says which.' },
  INTERRUPTED: { description: 'bosun stopped while the run was running.' },
  IDLE_TIMEOUT: {
    description: 'An external run had no command or file call in flight or started for its `idleTimeoutMs`.',
  },
  QUEUE_FULL: {
    description:
      'The run was waiting when bosun stopped, and at the next start the line was full: MAX_QUEUE_LENGTH is lower than the runs that waited.',
  },
} as const satisfies Record<FailureReason, { readonly description: string }>;
const LOG_STREAMS = {
  STDOUT: { description: "The sandbox process's standard output." },
  STDERR: { description: "The sandbox process's standard error." },
  SYSTEM: { description: 'bosun itself: the container, steps and their exit codes, limits hit, stops.' },
} as const satisfies Record<LogStream, { readonly description: string }>;

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
export async function agentRuns(services: Pick<BosunServices, 'runs'>, args: AgentRunsArgs): Promise<readonly AgentRun[]> {
  const limit = listLimit(args.limit);
  return (await services.runs.list({ status: args.status ?? null, limit })).slice(0, limit);
}

export interface RunLogsArgs {
  readonly afterSeq?: number | null;
  readonly last?: number | null;
}

/**
 * `AgentRun.logs`: buffered log lines of the run.
 * @throws BosunError BAD_USER_INPUT when `afterSeq` or `last` is negative.
 */
export function runLogs(services: Pick<BosunServices, 'runs'>, run: AgentRun, args: RunLogsArgs): Promise<readonly LogLine[]> {
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
): Promise<readonly ResourceSample[]> {
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

  builder.objectType('ResourceLimits', {
    description: "The sandbox container's limits.",
    fields: (t) => ({
      cpus: t.exposeFloat('cpus', { description: 'CPUs the container may use, e.g. 0.5 (its CPU quota).' }),
      memoryBytes: t.exposeFloat('memoryBytes', { description: 'Memory the container may use, in bytes (with no swap beyond it).' }),
      pidsLimit: t.exposeInt('pidsLimit', { description: 'Processes and threads the container may hold at once.' }),
    }),
  });

  builder.objectType('StepResult', {
    description: 'One command of a run (a shell agent step), and how it ended.',
    fields: (t) => ({
      index: t.exposeInt('index', { description: '1-based: the first step is step 1.' }),
      command: t.exposeString('command', { description: 'The command, as run with `sh -c` in /workspace.' }),
      exitCode: t.exposeInt('exitCode', { nullable: true, description: 'Its exit code; null while it runs, or when it was stopped.' }),
      startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true, description: 'When it started; null before.' }),
      finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true, description: 'When it ended; null while it runs.' }),
    }),
  });

  builder.objectType('LogLine', {
    description: "One line of a run's log: its output, or bosun's own SYSTEM lines.",
    fields: (t) => ({
      agentId: t.exposeID('runId', { description: 'The run.' }),
      seq: t.exposeInt('seq', { description: '1-based, increasing by one per line of the run.' }),
      stream: t.expose('stream', { type: LogStream, description: 'Where the line came from.' }),
      step: t.exposeInt('step', { nullable: true, description: "The step's index; null outside a step." }),
      line: t.exposeString('line', { description: 'The text, without its line break.' }),
      at: t.expose('at', { type: 'DateTime', description: 'When bosun recorded it.' }),
    }),
  });

  builder.objectType('AgentRun', {
    description: 'One agent run in its sandbox: what was asked, where it stands, what it produced.',
    fields: (t) => ({
      id: t.exposeID('id', { description: "The run's id (a UUID), as `agentId` everywhere else." }),
      status: t.expose('status', { type: AgentStatus, description: 'Where the run stands now.' }),
      failureReason: t.expose('failureReason', {
        type: FailureReason,
        nullable: true,
        description: 'Why a final run did not succeed; null while it is not final, when it succeeded, or when it was cancelled.',
      }),
      error: t.exposeString('error', { nullable: true, description: 'What went wrong, for people; null when nothing did.' }),
      group: t.field({
        type: 'FailureGroup',
        description: 'The failure group the run works on, as every run of the group shows it (the name given last, every CI run id given).',
        resolve: (run, _args, ctx) => runGroup(ctx.services, run),
      }),
      agent: t.string({ description: 'The registered agent that runs it, e.g. "shell".', resolve: (run) => run.config.agent }),
      image: t.string({ description: "The sandbox's image.", resolve: (run) => run.config.image }),
      limits: t.field({ type: 'ResourceLimits', description: "The sandbox's limits.", resolve: (run) => run.config.limits }),
      position: t.int({
        description: '1 = next to start; 0 = not waiting.',
        resolve: (run, _args, ctx) => ctx.services.runs.position(run.id),
      }),
      containerId: t.exposeString('containerId', { nullable: true, description: "The sandbox container's id; null before it is created." }),
      exitCode: t.exposeInt('exitCode', {
        nullable: true,
        description: "The agent's exit code (the shell agent's: its last step's); null until it ends.",
      }),
      steps: t.expose('steps', { type: ['StepResult'], description: 'The steps run so far, in order.' }),
      queuedAt: t.expose('queuedAt', { type: 'DateTime', description: 'When the run entered the line.' }),
      startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true, description: 'When it left the line to run; null while waiting.' }),
      finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true, description: 'When it became final; null before.' }),
      retryOf: t.exposeID('retryOf', { nullable: true, description: 'The run this one retries (`retryAgent`).' }),
      idleTimeoutMs: t.int({
        nullable: true,
        description: 'External runs: how long they may go without a command or file call; null for other runs.',
        resolve: (run) => run.config.idleTimeoutMs ?? null,
      }),
      idleSince: t.field({
        type: 'DateTime',
        nullable: true,
        description:
          'External runs waiting for commands: since when no command or file call has been in flight (the run ends at idleSince + idleTimeoutMs). Null while a call runs, during set-up, and for runs that are not running or not external.',
        resolve: (run, _args, ctx) => (run.status === 'RUNNING' ? (ctx.services.external?.idleSince(run.id, run.node) ?? null) : null),
      }),
      warmStart: t.exposeBoolean('warmStart', {
        description:
          "True when the run's sandbox was taken from the warm pool (created, started and frozen ahead of time), false when it was " +
          'created for the run (or the run has no sandbox yet). Nothing else about the run differs: limits, env, user, an empty workspace.',
      }),
      node: t.exposeString('node', {
        nullable: true,
        description:
          'The cluster node (BOSUN_NODE_NAME) that took the run, set when it starts; null while it waits, and always on a bosun ' +
          'that runs alone (no REDIS_URL / BOSUN_DB_URL).',
      }),
      peak: t.field({
        type: 'ResourcePeak',
        nullable: true,
        description: "The highest values the run's container reached.",
        resolve: async (run, _args, ctx) => (await ctx.services.monitor.peakForAgent(run.id)) ?? null,
      }),
      logs: t.field({
        type: ['LogLine'],
        description: 'Buffered log lines: those after `afterSeq` (≥ 0), of which the `last` (≥ 0).',
        args: {
          afterSeq: t.arg.int({ description: 'Only lines with a greater `seq` (≥ 0); from the first kept line when absent.' }),
          last: t.arg.int({ description: 'Only the last this many of them (≥ 0); all when absent.' }),
        },
        resolve: (run, args, ctx) => runLogs(ctx.services, run, args),
      }),
      samples: t.field({
        type: ['ResourceSample'],
        description: 'Samples kept in the history window, oldest first; the `last` (≥ 0) of them.',
        args: { last: t.arg.int({ description: 'Only the newest this many samples (≥ 0); all kept when absent.' }) },
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
    description: 'An environment variable for the sandbox.',
    fields: (t) => ({
      name: t.string({ required: true, description: 'A shell variable name; BOSUN_* names are reserved.' }),
      value: t.string({ required: true, description: 'Its value.' }),
    }),
  });

  const FailureGroupInput = builder.inputType('FailureGroupInput', {
    description: 'The group of failing CI runs the agent is to work on.',
    fields: (t) => ({
      id: t.string({
        required: true,
        description: 'Your id for the group: runs given the same id are of one group (Query.failureGroup, runs(groupId)).',
      }),
      name: t.string({ required: true, description: "The group's name; the newest run's is the group's." }),
      runIds: t.stringList({ description: "The failing CI runs' ids (at most 1000); they join the group's." }),
    }),
  });

  const AgentConfigInput = builder.inputType('AgentConfigInput', {
    description: 'What to run and with which limits; every field has a server default.',
    fields: (t) => ({
      agent: t.string({ description: 'A registered agent; default "shell".' }),
      image: t.string({ description: 'The sandbox image; default SANDBOX_IMAGE.' }),
      steps: t.stringList({ description: 'Shell commands, for the shell agent.' }),
      env: t.field({ type: [EnvVarInput], description: 'Environment variables for the sandbox, besides the BOSUN_* ones bosun sets.' }),
      cpus: t.float({ description: 'CPUs, e.g. 0.5; default DOCKER_CPU_LIMIT.' }),
      memory: t.string({ description: 'A size such as "512m" or "2g"; default DOCKER_MEMORY_LIMIT.' }),
      pidsLimit: t.int({ description: 'Default DOCKER_PIDS_LIMIT.' }),
      timeoutMs: t.int({ description: 'Default AGENT_TIMEOUT_MS.' }),
      user: t.string({ description: 'The uid[:gid] to run as, e.g. "1000:1000"; default the non-root sandbox user (1000). "0" is root.' }),
      idleTimeoutMs: t.int({
        description:
          'External runs (agent "external"): ended TIMED_OUT / IDLE_TIMEOUT after this long with no command or file call; default EXTERNAL_IDLE_TIMEOUT_MS (300000). Refused for other agents.',
      }),
      artifacts: t.stringList({
        description:
          'Absolute, normalised paths (files or directories) inside /workspace or /tmp, at most 32, copied out when the run ends, whatever its outcome; see AgentRun.artifacts.',
      }),
    }),
  });

  const StartAgentInput = builder.inputType('StartAgentInput', {
    description: 'What startAgent is to run: for which failure group, and how.',
    fields: (t) => ({
      group: t.field({ type: FailureGroupInput, required: true, description: 'The failure group the run works on.' }),
      config: t.field({ type: AgentConfigInput, required: true, description: 'The agent, image, steps and limits.' }),
      initialRepoContext: t.string({
        description:
          'Text the agent starts from (at most 1,048,576 characters), written into the sandbox at /workspace/.bosun/context.md (BOSUN_CONTEXT_FILE).',
      }),
    }),
  });

  const StartAgentPayload = builder.objectRef<StartAgentPayload>('StartAgentPayload').implement({
    description: "startAgent's and retryAgent's reply: the new run, and its place in line.",
    fields: (t) => ({
      agentId: t.exposeID('agentId', { description: "The new run's id." }),
      status: t.expose('status', { type: AgentStatus, description: 'QUEUED, or RUNNING when it started at once.' }),
      queue: t.expose('queue', { type: 'QueueTicket', description: 'Where the run stood right after it entered the line.' }),
      run: t.expose('run', { type: 'AgentRun', description: 'The new run.' }),
    }),
  });

  builder.queryFields((t) => ({
    agentRun: t.field({
      type: 'AgentRun',
      nullable: true,
      description: 'The run with this id; null when there is none (or it was pruned).',
      args: { id: t.arg.id({ required: true, description: "The run's id." }) },
      resolve: async (_root, args, ctx) => (await ctx.services.runs.get(requireId('id', args.id))) ?? null,
    }),
    agentRuns: t.field({
      type: ['AgentRun'],
      description: 'Runs newest first, of the given statuses if any; `limit` 1..500, default 50.',
      args: {
        status: t.arg({ type: [AgentStatus], description: 'Only runs with one of these statuses; all when absent or empty.' }),
        limit: t.arg.int({ description: 'How many runs at most: 1..500, default 50. Query.runs pages through them all.' }),
      },
      resolve: (_root, args, ctx) => agentRuns(ctx.services, args),
    }),
  }));

  builder.mutationFields((t) => ({
    startAgent: t.field({
      type: StartAgentPayload,
      description: 'Validates the input, stores the run and puts it in line; replies at once.',
      args: { input: t.arg({ type: StartAgentInput, required: true, description: 'The group, and what to run.' }) },
      resolve: (_root, args, ctx) => {
        ctx.admitStart?.('startAgent');
        return startAgent(ctx.services, args.input);
      },
    }),
    retryAgent: t.field({
      type: StartAgentPayload,
      description: 'Starts a new run with the same input as a finished run, linked to it by `retryOf`.',
      args: { id: t.arg.id({ required: true, description: 'The finished run to run again.' }) },
      resolve: (_root, args, ctx) => {
        ctx.admitStart?.('retryAgent');
        return retryAgent(ctx.services, requireId('id', args.id));
      },
    }),
    cancelAgent: t.field({
      type: 'AgentRun',
      description: 'Cancels a waiting run at once, or stops a running one.',
      args: { id: t.arg.id({ required: true, description: 'The run to cancel; it must not be final.' }) },
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
      args: { agentId: t.arg.id({ description: 'The run to follow (NOT_FOUND when there is none); every run when absent.' }) },
      subscribe: (_root, args, ctx) => agentRunUpdated(ctx.services, ctx.streams, optionalId('agentId', args.agentId)),
      resolve: unwrapStreamItem,
    }),
    agentLogs: t.field({
      type: 'LogLine',
      description:
        'Buffered lines after `afterSeq` (≥ 0), then live lines, with no gap or duplicate; completes when the run is final and its last line is sent.',
      args: {
        agentId: t.arg.id({ required: true, description: 'The run whose log to follow (NOT_FOUND when there is none).' }),
        afterSeq: t.arg.int({
          description: 'Resume after this `seq` (≥ 0), e.g. the last one received before a reconnect; from the start when absent.',
        }),
      },
      subscribe: (_root, args, ctx) => agentLogs(ctx.services, ctx.streams, requireId('agentId', args.agentId), args.afterSeq),
      resolve: unwrapStreamItem,
    }),
  }));

  return { AgentStatus, EnvVarInput };
}

/** The run refs other modules use. */
export type RunRefs = ReturnType<typeof addRuns>;
