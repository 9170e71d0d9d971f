/**
 * Numbers as people read them: always with a unit, rounded to what matters.
 * Pure functions; no DOM.
 */

const KiB = 1024;
const MiB = KiB * 1024;
const GiB = MiB * 1024;

/** Bytes in B, KiB, MiB or GiB, e.g. `12.3 MiB`. */
export function formatBytes(bytes) {
  if (bytes == null || !Number.isFinite(bytes)) return '—';
  if (bytes >= GiB) return `${trim(bytes / GiB, 2)} GiB`;
  if (bytes >= MiB) return `${trim(bytes / MiB, 1)} MiB`;
  if (bytes >= KiB) return `${trim(bytes / KiB, 0)} KiB`;
  return `${Math.round(bytes)} B`;
}

/** A percentage, e.g. `42.1 %` (one decimal below 100, none above). */
export function formatPercent(value) {
  if (value == null || !Number.isFinite(value)) return '—';
  return `${value >= 100 ? Math.round(value) : trim(value, 1)} %`;
}

/** A duration in ms as `850 ms`, `4.2 s`, `3 min 05 s` or `2 h 03 min`. */
export function formatDuration(ms) {
  if (ms == null || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${trim(s, s < 10 ? 1 : 0)} s`;
  const totalS = Math.floor(s);
  if (totalS < 3600) return `${Math.floor(totalS / 60)} min ${pad(totalS % 60)} s`;
  return `${Math.floor(totalS / 3600)} h ${pad(Math.floor((totalS % 3600) / 60))} min`;
}

/** The time between two ISO instants (or until `now` when `to` is missing). */
export function durationBetween(from, to, now = Date.now()) {
  if (!from) return null;
  const end = to ? Date.parse(to) : now;
  return Math.max(0, end - Date.parse(from));
}

/** Wall-clock time of an ISO instant, e.g. `14:03:27`. */
export function formatClock(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** How long ago an ISO instant was, e.g. `12 s ago`. */
export function formatAgo(iso, now = Date.now()) {
  if (!iso) return '—';
  const ms = Math.max(0, now - Date.parse(iso));
  return ms < 1500 ? 'just now' : `${formatDuration(ms).replace(/\.\d+/, '')} ago`;
}

/** CPUs, e.g. `0.5 CPU`, `2 CPUs`. */
export function formatCpus(cpus) {
  if (cpus == null || !Number.isFinite(cpus)) return '—';
  return `${trim(cpus, 2)} CPU${cpus === 1 ? '' : 's'}`;
}

/** The first 8 characters of an id, as the page names runs and containers. */
export function shortId(id) {
  return id ? String(id).slice(0, 8) : '—';
}

/** A status or enum in words: `TIMED_OUT` → `timed out`. */
export function words(value) {
  return value ? String(value).toLowerCase().replace(/_/g, ' ') : '';
}

function trim(value, decimals) {
  return Number(value.toFixed(decimals)).toLocaleString('en-US', { maximumFractionDigits: decimals });
}

function pad(value) {
  return String(value).padStart(2, '0');
}

/**
 * What a running external run is doing: "waiting for commands, idle 12 s of 300 s" while no call
 * is in flight (the run ends when idle reaches the timeout), busy otherwise; null for other runs
 * and once it is not running. The view's tick keeps the seconds current.
 */
export function externalState(run, now = Date.now()) {
  if (run.idleTimeoutMs == null || run.status !== 'RUNNING') return null;
  if (!run.idleSince) return 'busy: a call or a set-up step runs';
  const idleS = Math.floor(Math.max(0, now - Date.parse(run.idleSince)) / 1000);
  return `waiting for commands, idle ${idleS} s of ${Math.round(run.idleTimeoutMs / 1000)} s`;
}
