/**
 * The `AgentRun` fields that are not on the run snapshot: the queue position from the run
 * service, the log buffer, and the monitor's per-run history.
 */
import type { HealthAlert, ResourcePeak, ResourceSample } from '../monitor/monitor-types.js';
import type { AgentRun, LogLine } from '../runs/agent-run.js';
import type { BosunServices } from '../schema/context.js';
import { afterSeq, lastCount } from './arguments.js';

/** 1 = next to start; 0 = not waiting. */
export function runPosition(services: Pick<BosunServices, 'runs'>, run: AgentRun): number {
  return services.runs.position(run.id);
}

export interface RunLogsArgs {
  readonly afterSeq?: number | null;
  readonly last?: number | null;
}

/**
 * Buffered log lines of the run.
 * @throws BosunError BAD_USER_INPUT when `afterSeq` or `last` is negative.
 */
export function runLogs(services: Pick<BosunServices, 'runs'>, run: AgentRun, args: RunLogsArgs): readonly LogLine[] {
  return services.runs.logs(run.id, { afterSeq: afterSeq(args.afterSeq) ?? null, last: lastCount(args.last) ?? null });
}

/** @throws BosunError BAD_USER_INPUT when `last` is negative. */
export function runSamples(
  services: Pick<BosunServices, 'monitor'>,
  run: AgentRun,
  args: { readonly last?: number | null },
): readonly ResourceSample[] {
  return services.monitor.samples({ agentId: run.id, last: lastCount(args.last) ?? null });
}

export function runAlerts(services: Pick<BosunServices, 'monitor'>, run: AgentRun): readonly HealthAlert[] {
  return services.monitor.alertsForAgent(run.id);
}

export function runPeak(services: Pick<BosunServices, 'monitor'>, run: AgentRun): ResourcePeak | null {
  return services.monitor.peakForAgent(run.id) ?? null;
}
