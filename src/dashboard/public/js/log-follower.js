/**
 * Follows one run's log over `agentLogs`, across reconnections: each new connection subscribes
 * again with `afterSeq` = the last sequence number received, so the log continues without a gap
 * and without a duplicate. Lines at or below that number are dropped if they come anyway; a jump
 * in numbers (lines the server no longer keeps) is recorded as a gap.
 */
import { AGENT_LOGS } from './operations.js';

/** The error code of a log stream whose reader fell behind; it resumes from `resumeAfterSeq`. */
const SUBSCRIBER_TOO_SLOW = 'SUBSCRIBER_TOO_SLOW';

/** Lines kept for display; older ones are dropped from the page (the server keeps its own). */
const MAX_LINES = 5_000;

/**
 * @typedef {{ seq: number, at: string, stream: 'STDOUT' | 'STDERR' | 'SYSTEM', step: number | null, line: string }} LogLine
 * @typedef {{ type: 'reset' } | { type: 'lines', entries: LogEntry[] } | { type: 'state' }} LogEvent
 * @typedef {LogLine | { gap: number, afterSeq: number }} LogEntry
 */

export class LogFollower {
  /** @param {import('./connection.js').Connection} connection */
  constructor(connection) {
    this.connection = connection;
    /** @type {string | null} */
    this.runId = null;
    /** @type {LogEntry[]} */
    this.entries = [];
    /** The highest sequence number received. */
    this.lastSeq = 0;
    /** Whether the run is final and its last line was received. */
    this.ended = false;
    /** @type {string | null} */
    this.error = null;
    /** Subscriptions made for this run (1 + one per reconnection). */
    this.subscriptions = 0;
    /** @type {(() => void) | null} */
    this.stop = null;
    /** @type {Set<(event: LogEvent) => void>} */
    this.listeners = new Set();
    connection.onSession((session) => this.#subscribe(session));
  }

  /** @param {(event: LogEvent) => void} listener @returns {() => void} */
  on(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts following `runId` from its first line (null stops). */
  follow(runId) {
    this.stop?.();
    this.stop = null;
    this.runId = runId;
    this.entries = [];
    this.lastSeq = 0;
    this.ended = false;
    this.error = null;
    this.subscriptions = 0;
    this.#emit({ type: 'reset' });
    const session = this.connection.session();
    if (session && runId) this.#subscribe(session);
  }

  /** @param {import('./connection.js').Session} session */
  #subscribe(session) {
    const runId = this.runId;
    if (!runId || this.ended) return;
    this.stop?.();
    let resumeAfterSeq = null;
    this.subscriptions++;
    this.stop = session.subscribe(
      AGENT_LOGS,
      { agentId: runId, afterSeq: this.lastSeq },
      {
        next: (data) => {
          if (this.runId === runId) this.#add(data.agentLogs);
        },
        error: (errors) => {
          const list = Array.isArray(errors) ? errors : [errors];
          const slow = list.find((error) => error?.extensions?.code === SUBSCRIBER_TOO_SLOW);
          if (slow) {
            resumeAfterSeq = slow.extensions.resumeAfterSeq ?? this.lastSeq;
            return;
          }
          this.error = list.map((error) => error?.message ?? String(error)).join('; ');
          this.#emit({ type: 'state' });
        },
        complete: () => {
          if (this.runId !== runId) return;
          this.stop = null;
          if (resumeAfterSeq !== null) {
            this.#subscribe(session);
            return;
          }
          if (!this.error) this.ended = true;
          this.#emit({ type: 'state' });
        },
      },
    );
    this.#emit({ type: 'state' });
  }

  /** @param {LogLine} line */
  #add(line) {
    if (line.seq <= this.lastSeq) return;
    /** @type {LogEntry[]} */
    const added = [];
    if (line.seq > this.lastSeq + 1) added.push({ gap: line.seq - this.lastSeq - 1, afterSeq: this.lastSeq });
    added.push(line);
    this.lastSeq = line.seq;
    this.entries.push(...added);
    if (this.entries.length > MAX_LINES) this.entries.splice(0, this.entries.length - MAX_LINES);
    this.#emit({ type: 'lines', entries: added });
  }

  /** @param {LogEvent} event */
  #emit(event) {
    for (const listener of [...this.listeners]) listener(event);
  }
}
