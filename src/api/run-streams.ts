/**
 * Subscription streams about runs: their updates and their log lines.
 */
import { GraphQLError } from 'graphql';
import { isFinalStatus, type AgentRun, type LogLine } from '../runs/agent-run.js';
import { runEvents, type BosunServices } from './context.js';
import { afterSeq as checkAfterSeq, requireRun } from './arguments.js';
import type { EventChannel } from './streams/event-channel.js';
import type { StreamRegistry } from './streams/stream-registry.js';

/**
 * Every update of one run (each `run-updated` snapshot), ending after its final status; or, with
 * no id, every update of every run. A run that is already final gets its snapshot and the end.
 * A subscriber that falls behind skips the oldest buffered updates (the newest, final one stays).
 * @throws BosunError NOT_FOUND for an unknown run.
 */
export async function agentRunUpdated(
  services: Pick<BosunServices, 'runs' | 'views'>,
  streams: StreamRegistry,
  agentId: string | null | undefined,
): Promise<EventChannel<AgentRun>> {
  const { runs } = services;
  if (agentId == null) {
    const channel = streams.open<AgentRun>({ overflow: 'drop-oldest' });
    channel.listen(runEvents(services), 'run-updated', (run) => channel.push(run));
    return channel;
  }
  const channel = streams.open<AgentRun>({ overflow: 'drop-oldest' });
  // This run's updates only: an update of another run does not reach this stream at all. Followed
  // before the run is read, so that an update made while it is read is not missed.
  const unsubscribe = streams
    .fanout(runEvents(services), 'run-updated', (update) => update.id)
    .subscribe(agentId, (next) => {
      channel.push(next);
      if (isFinalStatus(next.status)) channel.end();
    });
  channel.onStop(unsubscribe);
  let run: AgentRun;
  try {
    run = await requireRun(runs, agentId, 'agentId');
  } catch (error) {
    channel.close();
    throw error;
  }
  // Final already (unless its final update came while it was read, and ended the stream).
  if (isFinalStatus(run.status) && channel.isOpen) {
    channel.push(run);
    channel.end();
  }
  return channel;
}

/** Live log lines a subscriber may fall behind by before its stream ends (it can resume). */
export const LOG_STREAM_CAPACITY = 1_000;

/** Bytes of live log lines a subscriber may fall behind by (whichever of the two comes first). */
export const LOG_STREAM_CAPACITY_BYTES = 1024 * 1024;

/** Lines read from the store per page of a replay. */
export const LOG_REPLAY_PAGE_LINES = 500;

/** Bytes of line text a replay page holds at most (it is cut there; the rest is read next). */
export const LOG_REPLAY_PAGE_BYTES = 256 * 1024;

/** The `extensions.code` of the error that ends a log stream whose subscriber fell behind. */
export const SUBSCRIBER_TOO_SLOW = 'SUBSCRIBER_TOO_SLOW';

/**
 * How long a stream waits for the store to hold lines its events showed beyond a gap (cluster mode:
 * another node's lines are written behind), before it takes them as trimmed; and how often it looks.
 */
const GAP_WAIT_MS = 5_000;
const GAP_RETRY_MS = 50;

/**
 * What a log line weighs in a subscriber's buffer: its text (UTF-16, as V8 may hold it) plus
 * the object around it, so that a buffer of empty lines is bounded too.
 */
export const logLineBytes = (line: LogLine): number => 2 * line.line.length + 64;

export interface AgentLogsOptions {
  /** Live lines buffered per subscriber; default {@link LOG_STREAM_CAPACITY}. */
  readonly capacity?: number;
  /** Live bytes buffered per subscriber (see {@link logLineBytes}); default {@link LOG_STREAM_CAPACITY_BYTES}. */
  readonly capacityBytes?: number;
  /** Lines per replay page; default {@link LOG_REPLAY_PAGE_LINES}. */
  readonly pageLines?: number;
  /** Bytes per replay page (see {@link logLineBytes}); default {@link LOG_REPLAY_PAGE_BYTES}. */
  readonly pageBytes?: number;
}

/**
 * The run's stored lines after `afterSeq`, then its live lines, with no gap and no duplicate,
 * ending once the run is final and its last line is sent.
 *
 * The stream is in one of two modes:
 * - *replay*: it reads the store in pages ({@link LOG_REPLAY_PAGE_LINES} lines, at most
 *   {@link LOG_REPLAY_PAGE_BYTES}), the next page only once the subscriber has taken the
 *   previous one, so a subscriber that does not read holds one page, however long the log. Live
 *   lines are not buffered meanwhile: they are in the store, and later pages read them. A page
 *   shorter than asked means the replay has caught up: the stream turns live, after the lines
 *   recorded while that page was read (held aside during the read: the store is asynchronous).
 *   At most `capacity` lines and `capacityBytes` are held: past that, they are let go and read
 *   from the store after the page instead (as a gap is, below), so that a slow store does not
 *   end a subscriber that reads fine, nor make it hold without bound.
 * - *live*: it sends each line of the run as it is recorded (delivered to this run's streams
 *   only, see {@link StreamRegistry.fanout}). A line is sent only when its seq is above the last
 *   one sent. A subscriber more than `capacity` lines or `capacityBytes` behind gets an error
 *   with `extensions.code` SUBSCRIBER_TOO_SLOW and `extensions.resumeAfterSeq`, after every line
 *   up to that seq, so that it can subscribe again from there.
 * - *a gap* (cluster mode): a live line beyond the next seq means lines were recorded on another
 *   node before this stream listened and are not in the shared store yet (written behind). The
 *   stream goes back to replay and reads the store again until it holds what the events showed
 *   (at most {@link GAP_WAIT_MS}; past that, the missing lines count as trimmed). On one node the
 *   store reads every line recorded before, and no gap happens.
 *
 * When the run is final, the stream stops listening and reads whatever its events did not
 * bring from the store, in pages, then ends. Lines trimmed from the run's log (LOG_LINES_PER_RUN)
 * before a slow subscriber's replay reached them are skipped, as a new subscription would.
 * @throws BosunError BAD_USER_INPUT for a negative `afterSeq`; NOT_FOUND for an unknown run.
 */
export async function agentLogs(
  services: Pick<BosunServices, 'runs' | 'views'>,
  streams: StreamRegistry,
  agentId: string,
  afterSeq: number | null | undefined,
  options: AgentLogsOptions = {},
): Promise<EventChannel<LogLine>> {
  const { runs } = services;
  const from = checkAfterSeq(afterSeq) ?? 0;
  await requireRun(runs, agentId, 'agentId');
  const pageLines = options.pageLines ?? LOG_REPLAY_PAGE_LINES;
  const pageBytes = options.pageBytes ?? LOG_REPLAY_PAGE_BYTES;

  /** The seq of the last line handed to the channel. */
  let cursor = from;
  const capacity = options.capacity ?? LOG_STREAM_CAPACITY;
  const capacityBytes = options.capacityBytes ?? LOG_STREAM_CAPACITY_BYTES;
  const channel = streams.open<LogLine>({
    overflow: 'fail',
    capacity,
    capacityBytes,
    sizeOf: logLineBytes,
    overflowError: (cause) =>
      new GraphQLError(
        `agentLogs: the subscriber fell more than ${cause === 'items' ? `${capacity} lines` : `${capacityBytes} bytes of lines`} behind; subscribe again with afterSeq: ${cursor}`,
        { extensions: { code: SUBSCRIBER_TOO_SLOW, resumeAfterSeq: cursor } },
      ),
  });

  let mode: 'replay' | 'live' = 'replay';
  /** The run is final: no more live lines; what the store holds after the cursor is the rest. */
  let final = false;
  /**
   * Set while a page is read: the lines emitted meanwhile (the store is asynchronous, and lines
   * are recorded while it answers). Every line recorded before the read began is in the page
   * or after it in the store; every line recorded since is here, unless {@link heldDropped}.
   * Bounded like the live buffer (`capacity` lines, `capacityBytes`): a slow read of a chatty
   * run would otherwise hold without end what the subscriber, reading fine, has not been sent.
   */
  let duringRead: LogLine[] | undefined;
  let heldBytes = 0;
  /**
   * The lines held during this read passed the bound and were let go, with every later one of
   * the read: the store has them (or will, once written behind), so the stream reads them from
   * it after the page rather than turn live.
   */
  let heldDropped = false;
  /** The highest seq an event showed: above the cursor once caught up, the store is behind (a gap). */
  let maxSeen = 0;
  /** Until when a gap is waited for. */
  let gapDeadline = 0;
  let gapTimer: NodeJS.Timeout | undefined;

  const send = (line: LogLine): void => {
    if (line.seq > cursor && channel.push(line)) cursor = line.seq;
  };
  /** Holds a line recorded while a page is read, within the bound (see {@link duringRead}). */
  const hold = (line: LogLine): void => {
    if (duringRead === undefined || heldDropped) return;
    const bytes = logLineBytes(line);
    if (duringRead.length >= capacity || (duringRead.length > 0 && heldBytes + bytes > capacityBytes)) {
      duringRead = [];
      heldBytes = 0;
      heldDropped = true;
      return;
    }
    duringRead.push(line);
    heldBytes += bytes;
  };
  /**
   * Reads again from the store (a page the subscriber pulls once it has taken what is buffered):
   * reading with items buffered would queue a page behind them, or after live lines.
   */
  const pullWhenDrained = (): void => {
    if (channel.buffered === 0) pull();
  };
  const stopListening: (() => void)[] = [];
  const stop = (): void => {
    clearTimeout(gapTimer);
    for (const unsubscribe of stopListening.splice(0)) unsubscribe();
  };
  channel.onStop(stop);

  /** Lines asked per page: fewer after a page cut at its byte bound, so that long lines are not read twice. */
  let limit = pageLines;
  /**
   * Reads the next page after the cursor and queues it; turns live (or ends) once caught up.
   * One read at a time: a pull while a page is read is left to that read.
   */
  const readPage = async (): Promise<void> => {
    if (duringRead) return;
    duringRead = [];
    heldBytes = 0;
    heldDropped = false;
    let page: readonly LogLine[];
    try {
      page = await runs.logs(agentId, { afterSeq: cursor, limit });
    } catch (error) {
      duringRead = undefined;
      throw error;
    }
    const held = duringRead;
    const dropped = heldDropped;
    duringRead = undefined;
    heldBytes = 0;
    heldDropped = false;
    // The subscriber went away while the page was read.
    if (!channel.isOpen) return;
    const kept: LogLine[] = [];
    let bytes = 0;
    let cut = false;
    for (const line of page) {
      if (line.seq <= cursor) continue;
      bytes += logLineBytes(line);
      if (kept.length > 0 && bytes > pageBytes) {
        cut = true;
        break;
      }
      kept.push(line);
    }
    channel.pushBacklog(kept);
    cursor = kept.at(-1)?.seq ?? cursor;
    if (cut) {
      limit = Math.max(1, kept.length);
      return;
    }
    if (page.length >= limit) {
      limit = Math.min(pageLines, limit * 2);
      return;
    }
    // Caught up with the store; the lines recorded while it was read follow.
    if (dropped) {
      // More came than may be held: they are read from the store instead, as after a gap (they
      // may still be written behind; past the wait, what it lacks counts as trimmed).
      gapDeadline = Date.now() + GAP_WAIT_MS;
    } else {
      // Queued as the page is (they are bounded, see `hold`), not as live lines: the subscriber
      // has not been sent them yet, and the live buffer's bound is for what comes from now on.
      const next: LogLine[] = [];
      let last = cursor;
      for (const line of held) {
        if (line.seq <= last) continue;
        if (line.seq > last + 1 && gapDeadline === 0) gapDeadline = Date.now() + GAP_WAIT_MS;
        if (line.seq === last + 1 || Date.now() >= gapDeadline) {
          next.push(line);
          last = line.seq;
        }
      }
      channel.pushBacklog(next);
      cursor = last;
    }
    if (maxSeen > cursor && Date.now() < gapDeadline) {
      // The store does not hold yet what the events showed: read it again shortly (once the
      // subscriber has taken what is buffered, when it pulls).
      gapTimer = setTimeout(pullWhenDrained, GAP_RETRY_MS);
      return;
    }
    if (final) {
      channel.end();
      return;
    }
    mode = 'live';
    // Healed: a later gap waits for the store afresh.
    gapDeadline = 0;
    channel.setPull(undefined);
  };
  /** The channel's pull: a later page's error ends the stream with it (the run was dropped from the store meanwhile). */
  const pull = (): void => {
    readPage().catch((error: unknown) => channel.fail(error instanceof Error ? error : new Error(String(error))));
  };

  /** The run is final: stop listening, and page through what the events did not bring. */
  const onFinal = (): void => {
    if (final) return;
    final = true;
    stop();
    // The last lines may still be on their way to the store (recorded on another node).
    if (maxSeen > cursor) gapDeadline = Date.now() + GAP_WAIT_MS;
    // A page being read (the final status came while it was read) ends the stream itself.
    if (!channel.isOpen || duringRead) return;
    mode = 'replay';
    channel.setPull(pull);
    if (channel.buffered === 0) pull();
  };

  const logs = streams.fanout(runEvents(services), 'log', (line) => line.runId);
  const updates = streams.fanout(runEvents(services), 'run-updated', (run) => run.id);
  stopListening.push(
    logs.subscribe(agentId, (line) => {
      maxSeen = Math.max(maxSeen, line.seq);
      if (mode === 'live' && line.seq > cursor + 1) {
        // A gap: the lines before it were recorded on another node; the store will have them.
        gapDeadline = Date.now() + GAP_WAIT_MS;
        mode = 'replay';
        channel.setPull(pull);
        // Lines still buffered are taken first: the channel pulls once they are.
        pullWhenDrained();
      } else if (mode === 'live') send(line);
      else hold(line);
    }),
    updates.subscribe(agentId, (run) => {
      if (isFinalStatus(run.status)) onFinal();
    }),
  );

  // The first page now, so that an error reaches the subscribe call; the next ones on demand.
  channel.setPull(pull);
  try {
    await readPage();
    // A run that is already final has nothing more to come (its final update, if it came meanwhile, did this).
    const current = await runs.get(agentId);
    if (!current || isFinalStatus(current.status)) onFinal();
  } catch (error) {
    // Either read failed: the channel and its listeners go with the refused subscribe call.
    channel.close();
    throw error;
  }
  return channel;
}
