/**
 * Subscription streams about the queue: its status, and one run's place in line.
 * Each function does its checks and attaches its listeners before it returns (before it reads the
 * run, which is asynchronous), so errors reach the client as the subscription's error and no event
 * is missed between the snapshot and the stream.
 */
import type { QueueStats } from '../queue/execution-queue.js';
import type { AgentRun, AgentStatus } from '../runs/agent-run.js';
import { requireRun } from './arguments.js';
import { runEvents, type BosunServices } from './context.js';
import type { EventChannel } from './streams/event-channel.js';
import type { StreamRegistry } from './streams/stream-registry.js';

/** One run's place in line, with the queue's counts at that moment. */
export interface QueuePositionUpdate {
  readonly agentId: string;
  readonly status: AgentStatus;
  /** 1 = next to start; 0 = not waiting. */
  readonly position: number;
  readonly queued: number;
  readonly running: number;
}

/**
 * The queue's status now, then after every change (the queue's `status` event).
 * A subscriber that falls behind skips to the newest statuses.
 */
export function queueStatusChanged(services: Pick<BosunServices, 'queue'>, streams: StreamRegistry): EventChannel<QueueStats> {
  const { queue } = services;
  const channel = streams.open<QueueStats>({ overflow: 'drop-oldest' });
  channel.push(queue.stats());
  channel.listen(queue.events, 'status', (stats) => channel.push(stats));
  return channel;
}

/**
 * A run's position now, then every change, ending after the update in which the run leaves the
 * line: status RUNNING (the queue's `started`, or the run's update) or a final status (the run's
 * update). A run that is not waiting gets one update and the end.
 * @throws BosunError NOT_FOUND for an unknown run.
 */
export async function queuePositionChanged(
  services: Pick<BosunServices, 'queue' | 'runs' | 'views'>,
  streams: StreamRegistry,
  agentId: string,
): Promise<EventChannel<QueuePositionUpdate>> {
  const { queue, runs } = services;
  const update = (status: AgentStatus, position: number): QueuePositionUpdate => {
    const stats = queue.stats();
    return { agentId, status, position, queued: stats.queued, running: stats.running };
  };
  const channel = streams.open<QueuePositionUpdate>({ overflow: 'drop-oldest' });
  /** Until the run is read: where the run went meanwhile, if it left the line. */
  let ready = false;
  let leftAs: AgentStatus | undefined;
  const leave = (status: AgentStatus): void => {
    if (!ready) {
      leftAs ??= status;
      return;
    }
    channel.push(update(status, 0));
    channel.end();
  };
  let position = 0;
  channel.listen(queue.events, 'position-changed', (event) => {
    if (!ready || event.id !== agentId || event.position === position) return;
    position = event.position;
    channel.push(update('QUEUED', position));
  });
  channel.listen(queue.events, 'started', (event) => {
    if (event.id === agentId) leave('RUNNING');
  });
  channel.listen(runEvents(services), 'run-updated', (next) => {
    if (next.id === agentId && next.status !== 'QUEUED') leave(next.status);
  });
  let run: AgentRun;
  try {
    run = await requireRun(runs, agentId, 'agentId');
  } catch (error) {
    channel.close();
    throw error;
  }
  ready = true;
  const status = leftAs ?? run.status;
  if (status !== 'QUEUED') {
    channel.push(update(status, 0));
    channel.end();
    return channel;
  }
  // The line answers at once: the position now, then each change.
  position = runs.position(agentId);
  channel.push(update('QUEUED', position));
  return channel;
}
