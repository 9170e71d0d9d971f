/**
 * One container's recent resource samples, as the columns a chart draws: time (s), CPU %
 * (100 = one CPU, as `docker stats`), memory bytes and % of the limit, pids. Samples are kept in
 * time order without duplicates, so a history replayed after a reconnect merges with what is
 * already there.
 */

/** How far back the charts look. */
export const SERIES_WINDOW_SECONDS = 5 * 60;

/** A bound on memory whatever the sample rate. */
const MAX_POINTS = 3_000;

export class ResourceSeries {
  /** @param {string} key the run id, or the container id for a container bosun did not start */
  constructor(key) {
    this.key = key;
    /** @type {number[]} */ this.time = [];
    /** @type {number[]} */ this.cpuPercent = [];
    /** @type {number[]} */ this.memoryBytes = [];
    /** @type {number[]} */ this.memoryPercent = [];
    /** @type {number[]} */ this.pids = [];
    this.memoryLimitBytes = 0;
    /** @type {number | null} */ this.pidsLimit = null;
    /** @type {string | null} */ this.containerId = null;
    /** @type {string | null} */ this.agentId = null;
    /** Bumped on every change, for views that redraw only when it moved. */
    this.version = 0;
  }

  get length() {
    return this.time.length;
  }

  /** The newest sample's values, or null. */
  latest() {
    const i = this.time.length - 1;
    if (i < 0) return null;
    return {
      time: this.time[i],
      cpuPercent: this.cpuPercent[i],
      memoryBytes: this.memoryBytes[i],
      memoryPercent: this.memoryPercent[i],
      pids: this.pids[i],
    };
  }

  /**
   * Adds a sample in time order; one at an instant already held is ignored.
   * @returns {boolean} whether it was added
   */
  add(sample) {
    const t = Date.parse(sample.at) / 1000;
    if (!Number.isFinite(t)) return false;
    const index = insertionIndex(this.time, t);
    if (this.time[index] === t) return false;
    this.time.splice(index, 0, t);
    this.cpuPercent.splice(index, 0, sample.cpuPercent);
    this.memoryBytes.splice(index, 0, sample.memoryUsageBytes);
    this.memoryPercent.splice(index, 0, sample.memoryPercent);
    this.pids.splice(index, 0, sample.pids);
    if (sample.memoryLimitBytes) this.memoryLimitBytes = sample.memoryLimitBytes;
    if (sample.pidsLimit != null) this.pidsLimit = sample.pidsLimit;
    this.containerId = sample.containerId ?? this.containerId;
    this.agentId = sample.agentId ?? this.agentId;
    this.#trim();
    this.version++;
    return true;
  }

  #trim() {
    const newest = this.time[this.time.length - 1];
    let drop = 0;
    while (drop < this.time.length && this.time[drop] < newest - SERIES_WINDOW_SECONDS) drop++;
    drop = Math.max(drop, this.time.length - MAX_POINTS);
    if (drop <= 0) return;
    for (const column of [this.time, this.cpuPercent, this.memoryBytes, this.memoryPercent, this.pids]) column.splice(0, drop);
  }
}

/** The first index whose time is ≥ t (the end when none), searching from the end: samples mostly arrive in order. */
function insertionIndex(times, t) {
  let i = times.length;
  while (i > 0 && times[i - 1] >= t) i--;
  return i;
}
