/**
 * Puts back waiting runs that Redis lost (it restarted without its data): PostgreSQL is the truth.
 * They go back in their original order, ahead of any run queued since Redis returned, and no worker
 * can take one of them before the rest are in: the adds are one MULTI transaction (BullMQ's
 * FlowProducer.addBulk, documented as atomic), each pushed to the front of the line, the last first.
 * One node restores at a time (a Redis lock), so two restoring nodes cannot interleave their runs.
 */
import { randomUUID } from 'node:crypto';
import type { FlowProducer } from 'bullmq';
import { BosunError } from '../errors.js';
import type { QueueScripts } from './bullmq-scripts.js';
import type { QueueStreamFollower } from './queue-stream-follower.js';

export interface RestoreContext {
  readonly scripts: QueueScripts;
  readonly flows: FlowProducer;
  readonly follower: QueueStreamFollower;
  readonly queueName: string;
  readonly queueTimeoutMs: number;
  readonly now: () => number;
  /** How long an operation waits for its own events to come back. */
  readonly echoTimeoutMs: number;
}

/** How long the restore lock holds if its node dies while restoring. */
const LOCK_MS = 30_000;
const LOCK_RETRY_MS = 50;
/** How long admissions hold their place before the atomic add. */
const RESERVATION_MS = 30_000;

/**
 * Restores `runs` (next to start first) that Redis does not have; returns how many it put back (a run
 * already past its deadline is shown entering and timing out instead, and counts too).
 */
export async function restoreWaiting(
  context: RestoreContext,
  runs: ReadonlyArray<{ readonly id: string; readonly queuedAt: Date }>,
): Promise<number> {
  const { scripts, now } = context;
  const token = randomUUID();
  const deadline = now() + LOCK_MS;
  while (!(await scripts.lock('restoring', token, LOCK_MS))) {
    if (now() > deadline) throw new BosunError('UNAVAILABLE', 'Another node has been restoring the queue for too long');
    await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
  }
  try {
    const admitted: Array<{ id: string; queuedAt: number }> = [];
    let restored = 0;
    let lastEventId = '0-0';
    // Each one goes to the front of the line, so the last goes first.
    for (const run of [...runs].reverse()) {
      const at = now();
      const queuedAt = Math.min(run.queuedAt.getTime(), at);
      // No length limit: these runs were admitted once already.
      const admission = await scripts.admit(run.id, { queuedAt, now: at, reserveMs: RESERVATION_MS }, 0, {
        front: true,
        expired: queuedAt + context.queueTimeoutMs <= at,
      });
      if (admission.admitted) admitted.push({ id: run.id, queuedAt });
      else if (admission.reason === 'unsettled') {
        throw new BosunError('UNAVAILABLE', 'The cluster queue lost its data and is putting back the runs still running; restore again once it has');
      } else if (admission.reason === 'expired') {
        restored += 1;
        lastEventId = admission.eventId;
      }
    }
    if (admitted.length > 0) {
      await context.flows.addBulk(
        admitted.map(({ id, queuedAt }) => ({
          name: 'run',
          queueName: context.queueName,
          data: { queuedAt },
          opts: { jobId: id, timestamp: queuedAt, lifo: true, removeOnComplete: true, removeOnFail: true },
        })),
      );
      for (const { id } of admitted) lastEventId = (await scripts.ticket(id)).eventId;
      restored += admitted.length;
    }
    await context.follower.caughtUp(lastEventId, context.echoTimeoutMs);
    return restored;
  } finally {
    await scripts.unlock('restoring', token).catch(() => undefined);
  }
}
