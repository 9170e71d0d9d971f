/**
 * Subscription streams from the monitor: resource samples and health alerts.
 * A subscriber that falls behind skips the oldest buffered items; of samples, it gets only the
 * newest one of each container.
 */
import type { HealthAlert, HealthLevel, ResourceSample } from '../monitor/monitor-types.js';
import { isFinalStatus } from '../runs/agent-run.js';
import { requireRun } from './arguments.js';
import { monitorEvents, runEvents, type BosunServices } from './context.js';
import type { EventChannel } from './streams/event-channel.js';
import type { StreamRegistry } from './streams/stream-registry.js';

export interface ResourceSamplesArgs {
  readonly agentId?: string | null;
  readonly containerId?: string | null;
}

/** Samples waiting for a subscriber before the newest of each container replaces the older. */
export const SAMPLE_COALESCE_AFTER = 32;

/**
 * Every published sample, or those of one run and/or one container. Once
 * {@link SAMPLE_COALESCE_AFTER} samples wait for a subscriber (its socket takes no more: see
 * src/server/ws-backpressure.ts), a new sample replaces the waiting one of its container, so a
 * subscriber that stops reading holds a bounded set: the newest sample per container.
 *
 * With `agentId`, the run must exist, and the stream ends once it is final (its container is
 * gone: no sample can come), after the samples it holds; a run that is final already ends it at
 * once, as agentRunUpdated and agentLogs do.
 * @throws BosunError NOT_FOUND for an unknown run.
 */
export async function resourceSamples(
  services: Pick<BosunServices, 'monitor' | 'runs' | 'views'>,
  streams: StreamRegistry,
  args: ResourceSamplesArgs,
): Promise<EventChannel<ResourceSample>> {
  const { agentId, containerId } = args;
  const channel = streams.open<ResourceSample>({
    overflow: 'drop-oldest',
    coalesce: { by: (sample) => sample.containerId, after: SAMPLE_COALESCE_AFTER },
  });
  // Followed before the run is read (asynchronously), so that nothing published meanwhile is missed.
  channel.listen(monitorEvents(services), 'sample', (sample) => {
    if (agentId != null && sample.runId !== agentId) return;
    if (containerId != null && sample.containerId !== containerId) return;
    channel.push(sample);
  });
  if (agentId == null) return channel;
  const unsubscribe = streams
    .fanout(runEvents(services), 'run-updated', (update) => update.id)
    .subscribe(agentId, (update) => {
      if (isFinalStatus(update.status)) channel.end();
    });
  channel.onStop(unsubscribe);
  try {
    const run = await requireRun(services.runs, agentId, 'agentId');
    if (isFinalStatus(run.status)) channel.end();
  } catch (error) {
    channel.close();
    throw error;
  }
  return channel;
}

/** The default `minLevel` of `healthAlerts`. */
export const DEFAULT_ALERT_LEVEL: HealthLevel = 'WARNING';

const LEVEL_RANK: Readonly<Record<HealthLevel, number>> = { UNKNOWN: 0, HEALTHY: 0, WARNING: 1, CRITICAL: 2 };

/** Whether an alert of `level` passes a `minLevel` filter (CRITICAL > WARNING > HEALTHY, UNKNOWN). */
export function meetsLevel(level: HealthLevel, minLevel: HealthLevel): boolean {
  return LEVEL_RANK[level] >= LEVEL_RANK[minLevel];
}

/**
 * Alerts at or above `minLevel` (default WARNING), raised and resolved (`resolvedAt` set).
 * HEALTHY and UNKNOWN let every alert through.
 */
export function healthAlerts(
  services: Pick<BosunServices, 'monitor' | 'views'>,
  streams: StreamRegistry,
  minLevel: HealthLevel | null | undefined,
): EventChannel<HealthAlert> {
  const threshold = minLevel ?? DEFAULT_ALERT_LEVEL;
  const channel = streams.open<HealthAlert>({ overflow: 'drop-oldest' });
  channel.listen(monitorEvents(services), 'alert', (alert) => {
    if (meetsLevel(alert.level, threshold)) channel.push(alert);
  });
  return channel;
}
