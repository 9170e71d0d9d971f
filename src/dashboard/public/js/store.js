/**
 * The page's state and who listens to which part of it. Only the live feed and the mutation
 * handlers write; views read and re-render when a topic they follow changes.
 *
 * Topics: `queue`, `runs`, `health`, `advice`, `alerts`, `series`, `selection`, `sync`.
 */
import { ResourceSeries } from './series.js';

/** Final statuses: a run in one of these never changes status again. */
export const FINAL_STATUSES = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT']);

/** Alerts and recoveries the feed keeps. */
const FEED_LIMIT = 200;

/** Runs the page keeps (the newest; the server keeps more). */
const RUN_LIMIT = 100;

/** How far along a run is: an update never takes a run back (a late snapshot after a newer event). */
function progress(status) {
  return status === 'QUEUED' ? 0 : status === 'RUNNING' ? 1 : 2;
}

export class Store {
  constructor() {
    /** @type {{ running: number, queued: number, maxConcurrency: number, utilizationPercent: number, paused: boolean } | null} */
    this.queue = null;
    /** @type {Map<string, any>} run id → the latest AgentRun */
    this.runs = new Map();
    /** @type {Map<string, number>} run id → place in line (1 = next) */
    this.positions = new Map();
    /** @type {any} the latest HealthReport */
    this.health = null;
    /** @type {any} the latest ConcurrencyAdvice */
    this.advice = null;
    /** @type {Map<string, any>} alert id → the alert as last seen */
    this.alerts = new Map();
    /** @type {{ key: string, kind: 'raised' | 'recovered', at: string, alert: any }[]} newest first */
    this.feed = [];
    /** @type {Map<string, ResourceSeries>} run id (or container id) → samples */
    this.series = new Map();
    /** @type {string | null} the run opened in the list */
    this.selectedRunId = null;
    /** Whether the state reflects the current connection (false between a drop and the re-sync). */
    this.synced = false;
    /** @type {Map<string, Set<() => void>>} */
    this.listeners = new Map();
  }

  /**
   * @param {string} topic
   * @param {() => void} listener
   * @returns {() => void} unsubscribe
   */
  on(topic, listener) {
    let set = this.listeners.get(topic);
    if (!set) this.listeners.set(topic, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** @param {string} topic */
  emit(topic) {
    for (const listener of [...(this.listeners.get(topic) ?? [])]) listener();
  }

  setSynced(synced) {
    if (this.synced === synced) return;
    this.synced = synced;
    this.emit('sync');
  }

  setQueue(queue) {
    this.queue = queue;
    this.emit('queue');
  }

  /** Runs newest first. */
  sortedRuns() {
    return [...this.runs.values()].sort((a, b) => Date.parse(b.queuedAt) - Date.parse(a.queuedAt) || (a.id < b.id ? 1 : -1));
  }

  /** Replaces every run with a snapshot's (runs the snapshot no longer lists are gone from the server). */
  replaceRuns(runs) {
    this.runs = new Map(runs.map((run) => [run.id, stripHistory(run)]));
    this.positions = new Map(runs.filter((run) => run.status === 'QUEUED').map((run) => [run.id, run.position]));
    for (const run of runs) for (const alert of run.alerts ?? []) this.#recordAlert(alert);
    this.#trimRuns();
    this.emit('runs');
    this.emit('alerts');
  }

  /**
   * Applies one run update unless it is older than what the page has.
   * @returns {{ run: any, previous: any } | null} the change, or null when ignored
   */
  upsertRun(run) {
    const previous = this.runs.get(run.id);
    if (previous && progress(run.status) < progress(previous.status)) return null;
    const next = stripHistory(run);
    this.runs.set(run.id, next);
    if (run.status === 'QUEUED') {
      if (run.position > 0 || !this.positions.has(run.id)) this.positions.set(run.id, run.position);
    } else {
      this.positions.delete(run.id);
    }
    this.#trimRuns();
    this.emit('runs');
    return { run: next, previous };
  }

  /** A run's place in line; 0 removes it from the line. */
  setPosition(runId, position) {
    const run = this.runs.get(runId);
    if (position > 0 && run && run.status !== 'QUEUED') return;
    if (position > 0) this.positions.set(runId, position);
    else this.positions.delete(runId);
    this.emit('runs');
  }

  setHealth(report) {
    this.health = report;
    this.emit('health');
  }

  setAdvice(advice) {
    this.advice = advice;
    this.emit('advice');
  }

  /** Records an alert (raised, or resolved when `resolvedAt` is set) and its entries in the feed. */
  addAlert(alert) {
    this.#recordAlert(alert);
    this.emit('alerts');
  }

  #recordAlert(alert) {
    const known = this.alerts.get(alert.id);
    this.alerts.set(alert.id, known?.resolvedAt && !alert.resolvedAt ? known : alert);
    const raisedKey = `${alert.id}:raised`;
    const raised = this.feed.find((entry) => entry.key === raisedKey);
    if (raised) raised.alert = this.alerts.get(alert.id);
    else this.#addEntry({ key: raisedKey, kind: 'raised', at: alert.at, alert: this.alerts.get(alert.id) });
    if (alert.resolvedAt && !this.feed.some((entry) => entry.key === `${alert.id}:recovered`)) {
      this.#addEntry({ key: `${alert.id}:recovered`, kind: 'recovered', at: alert.resolvedAt, alert });
    }
  }

  #addEntry(entry) {
    const at = Date.parse(entry.at);
    let index = 0;
    while (index < this.feed.length && Date.parse(this.feed[index].at) > at) index++;
    this.feed.splice(index, 0, entry);
    if (this.feed.length > FEED_LIMIT) this.feed.length = FEED_LIMIT;
  }

  /** The alerts of one run, newest first. */
  alertsOf(runId) {
    return [...this.alerts.values()].filter((alert) => alert.agentId === runId).sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  }

  /** The series of a run (or of a container bosun did not start), created on first use. */
  seriesFor(key) {
    let series = this.series.get(key);
    if (!series) this.series.set(key, (series = new ResourceSeries(key)));
    return series;
  }

  addSample(sample) {
    if (this.seriesFor(sample.agentId ?? sample.containerId).add(sample)) this.emit('series');
  }

  /** Merges recorded samples (a snapshot's or a run's history) into the series. */
  addSamples(samples) {
    let added = false;
    for (const sample of samples) added = this.seriesFor(sample.agentId ?? sample.containerId).add(sample) || added;
    if (added) this.emit('series');
  }

  /** Opens a run in the list (null closes it). */
  select(runId) {
    if (this.selectedRunId === runId) return;
    this.selectedRunId = runId;
    this.emit('selection');
  }

  #trimRuns() {
    if (this.runs.size <= RUN_LIMIT) return;
    for (const run of this.sortedRuns().slice(RUN_LIMIT)) {
      if (run.id === this.selectedRunId || !FINAL_STATUSES.has(run.status)) continue;
      this.runs.delete(run.id);
      this.series.delete(run.id);
    }
  }
}

/** A run without the lists the snapshot query adds (alerts, samples): the store keeps those apart. */
function stripHistory(run) {
  const { alerts: _alerts, samples: _samples, ...rest } = run;
  return rest;
}
