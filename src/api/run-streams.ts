/**
 * Subscription streams about runs: their updates and their log lines.
 */
import { GraphQLError } from 'graphql';
import { isFinalStatus, type AgentRun, type LogLine } from '../runs/agent-run.js';
import type { BosunServices } from './context.js';
import { afterSeq as checkAfterSeq, requireRun } from './arguments.js';
import type { EventChannel } from './streams/event-channel.js';
import type { StreamRegistry } from './streams/stream-registry.js';

/**
 * Every update of one run (each `run-updated` snapshot), ending after its final status; or, with
 * no id, every update of every run. A run that is already final gets its snapshot and the end.
 * A subscriber that falls behind skips the oldest buffered updates (the newest, final one stays).
 * @throws BosunError NOT_FOUND for an unknown run.
 */
export function agentRunUpdated(
  services: Pick<BosunServices, 'runs'>,
  streams: StreamRegistry,
  agentId: string | null | undefined,
): EventChannel<AgentRun> {
  const { runs } = services;
  if (agentId == null) {
    const channel = streams.open<AgentRun>({ overflow: 'drop-oldest' });
    channel.listen(runs.events, 'run-updated', (run) => channel.push(run));
    return channel;
  }
  const run = requireRun(runs, agentId, 'agentId');
  const channel = streams.open<AgentRun>({ overflow: 'drop-oldest' });
  if (isFinalStatus(run.status)) {
    channel.push(run);
    channel.end();
    return channel;
  }
  channel.listen(runs.events, 'run-updated', (next) => {
    if (next.id !== agentId) return;
    channel.push(next);
    if (isFinalStatus(next.status)) channel.end();
  });
  return channel;
}

/** Live log lines a subscriber may fall behind by before its stream ends (it can resume). */
export const LOG_STREAM_CAPACITY = 1_000;

/** The `extensions.code` of the error that ends a log stream whose subscriber fell behind. */
export const SUBSCRIBER_TOO_SLOW = 'SUBSCRIBER_TOO_SLOW';

export interface AgentLogsOptions {
  /** Live lines buffered per subscriber; default {@link LOG_STREAM_CAPACITY}. */
  readonly capacity?: number;
}

/**
 * The run's buffered lines after `afterSeq`, then its live lines, with no gap and no duplicate,
 * ending once the run is final and its last line is sent.
 *
 * Live events are subscribed to before the buffer is read, and a line is sent only when its seq
 * is above the last one sent. The replay is not counted against the buffer (the run service
 * already holds it); a subscriber more than `capacity` live lines behind gets an error with
 * `extensions.code` SUBSCRIBER_TOO_SLOW and `extensions.resumeAfterSeq`, after every line up to
 * that seq, so that it can subscribe again from there.
 * @throws BosunError BAD_USER_INPUT for a negative `afterSeq`; NOT_FOUND for an unknown run.
 */
export function agentLogs(
  services: Pick<BosunServices, 'runs'>,
  streams: StreamRegistry,
  agentId: string,
  afterSeq: number | null | undefined,
  options: AgentLogsOptions = {},
): EventChannel<LogLine> {
  const { runs } = services;
  const from = checkAfterSeq(afterSeq) ?? 0;
  requireRun(runs, agentId, 'agentId');

  /** The seq of the last line handed to the channel. */
  let cursor = from;
  const capacity = options.capacity ?? LOG_STREAM_CAPACITY;
  const channel = streams.open<LogLine>({
    overflow: 'fail',
    capacity,
    overflowError: () =>
      new GraphQLError(`agentLogs: the subscriber fell more than ${capacity} lines behind; subscribe again with afterSeq: ${cursor}`, {
        extensions: { code: SUBSCRIBER_TOO_SLOW, resumeAfterSeq: cursor },
      }),
  });
  const send = (line: LogLine): void => {
    if (line.seq > cursor && channel.push(line)) cursor = line.seq;
  };

  // 1. Listen first, holding live lines back until the replay is queued.
  let early: LogLine[] | undefined = [];
  const finish = (): void => {
    if (!channel.isOpen) return;
    // Lines recorded before the final status whose events have not reached us.
    try {
      for (const line of runs.logs(agentId, { afterSeq: cursor })) send(line);
    } catch {
      // The run was dropped from memory meanwhile: nothing more to send.
    }
    channel.end();
  };
  channel.listen(runs.events, 'log', (line) => {
    if (line.runId !== agentId) return;
    if (early) early.push(line);
    else send(line);
  });
  channel.listen(runs.events, 'run-updated', (run) => {
    if (run.id === agentId && isFinalStatus(run.status) && !early) finish();
  });

  // 2. Replay the buffer, then the live lines that came meanwhile, without duplicates.
  let replay: readonly LogLine[];
  try {
    replay = runs.logs(agentId, { afterSeq: from });
  } catch (error) {
    channel.close();
    throw error;
  }
  channel.pushBacklog(replay.filter((line) => line.seq > cursor));
  cursor = replay.reduce((seq, line) => Math.max(seq, line.seq), cursor);
  const held = early;
  early = undefined;
  for (const line of held) send(line);

  // 3. A run that is already final has nothing more to come.
  const current = runs.get(agentId);
  if (!current || isFinalStatus(current.status)) finish();
  return channel;
}
