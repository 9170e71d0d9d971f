/**
 * `AgentRun` and the parts of a run: its failure group, limits and steps. `agent`, `image` and
 * `limits` come from the run's validated config; `position` from the run service; `peak`,
 * `samples` and `alerts` from the monitor.
 */
import {
  runAlerts,
  runLogs,
  runPeak,
  runPosition,
  runSamples,
} from '../../resolvers/agent-run-fields.js';
import type { BosunBuilder } from '../builder.js';
import type { BosunEnums } from './enums.js';

export function addAgentRunTypes(builder: BosunBuilder, enums: BosunEnums): void {
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

  builder.objectType('AgentRun', {
    description: 'One agent run in its sandbox: what was asked, where it stands, what it produced.',
    fields: (t) => ({
      id: t.exposeID('id'),
      status: t.expose('status', { type: enums.AgentStatus }),
      failureReason: t.expose('failureReason', { type: enums.FailureReason, nullable: true }),
      error: t.exposeString('error', { nullable: true }),
      group: t.expose('group', { type: 'FailureGroup' }),
      agent: t.string({ resolve: (run) => run.config.agent }),
      image: t.string({ resolve: (run) => run.config.image }),
      limits: t.field({ type: 'ResourceLimits', resolve: (run) => run.config.limits }),
      position: t.int({
        description: '1 = next to start; 0 = not waiting.',
        resolve: (run, _args, ctx) => runPosition(ctx.services, run),
      }),
      containerId: t.exposeString('containerId', { nullable: true }),
      exitCode: t.exposeInt('exitCode', { nullable: true }),
      steps: t.expose('steps', { type: ['StepResult'] }),
      queuedAt: t.expose('queuedAt', { type: 'DateTime' }),
      startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
      finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
      retryOf: t.exposeID('retryOf', { nullable: true, description: 'The run this one retries (`retryAgent`).' }),
      peak: t.field({
        type: 'ResourcePeak',
        nullable: true,
        description: "The highest values the run's container reached.",
        resolve: (run, _args, ctx) => runPeak(ctx.services, run),
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
        resolve: (run, _args, ctx) => runAlerts(ctx.services, run),
      }),
    }),
  });
}
