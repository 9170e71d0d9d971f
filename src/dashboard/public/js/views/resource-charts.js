/**
 * One container's resources over the last minutes, as three small uPlot charts — CPU (% of the
 * container's CPU limit, the figure bosun grades), memory (% of its limit, with the bytes in the
 * headline) and pids — each with the warning and critical thresholds drawn as dashed lines.
 * Memory and pids use a log scale: a few MiB or a handful of processes stay visible next to
 * thresholds near the limit.
 *
 * The element carries `data-points` (the samples drawn) for tests and the curious.
 */
import uPlot from '../../vendor/uplot/uPlot.esm.js';
import { h, setModifier, setText } from '../dom.js';
import { formatBytes, formatCpus, formatPercent } from '../format.js';
import { SERIES_WINDOW_SECONDS } from '../series.js';

/** Colours the charts share with the stylesheet's. */
export const CHART_COLORS = {
  cpu: '#60a5fa',
  memory: '#a78bfa',
  pids: '#2dd4bf',
  warning: '#f5a524',
  critical: '#f04438',
  axis: '#8391a7',
  grid: 'rgba(148, 163, 184, 0.10)',
};

/** The narrowest time span shown, so that a new container's first points are not stretched edge to edge. */
const MIN_SPAN_SECONDS = 60;
const PLOT_HEIGHT = 140;

/**
 * @typedef {{ cpuPercentWarning: number, cpuPercentCritical: number, memoryPercentWarning: number,
 *   memoryPercentCritical: number, pidsWarning: number, pidsCritical: number }} Thresholds
 * @typedef {{ cpus: number, memoryBytes: number, pidsLimit: number }} Limits
 */

/**
 * @typedef {object} MetricSpec
 * @property {string} name
 * @property {string} color
 * @property {(series: import('../series.js').ResourceSeries, limits: Limits | null) => (number | null)[]} values
 * @property {(t: Thresholds) => [number, number]} thresholds
 * @property {(t: Thresholds | null, max: number, limits: Limits | null) => [number, number]} range
 * @property {boolean} log
 * @property {(value: number) => string} tick
 * @property {(series: import('../series.js').ResourceSeries, limits: Limits | null) => [string, string]} headline value, and what it is out of
 */

/** CPU as bosun grades it: % of the container's own CPU limit when known (100 = the whole quota). */
function cpuOfLimit(cpuPercent, limits) {
  return limits?.cpus > 0 ? cpuPercent / limits.cpus : cpuPercent;
}

/** @type {MetricSpec[]} */
const METRICS = [
  {
    name: 'CPU',
    color: CHART_COLORS.cpu,
    values: (series, limits) => series.cpuPercent.map((value) => cpuOfLimit(value, limits)),
    thresholds: (t) => [t.cpuPercentWarning, t.cpuPercentCritical],
    range: (_t, max) => [0, Math.max(100, Math.ceil((max * 1.1) / 10) * 10)],
    log: false,
    tick: (value) => `${value}%`,
    headline: (series, limits) => {
      const latest = series.latest();
      return [latest ? formatPercent(cpuOfLimit(latest.cpuPercent, limits)) : '—', limits?.cpus ? `of ${formatCpus(limits.cpus)}` : 'of one CPU'];
    },
  },
  {
    name: 'Memory',
    color: CHART_COLORS.memory,
    values: (series) => series.memoryPercent.map((value) => Math.max(value, 0.01)),
    thresholds: (t) => [t.memoryPercentWarning, t.memoryPercentCritical],
    range: () => [0.01, 100],
    log: true,
    tick: (value) => `${+value.toPrecision(2)}%`,
    headline: (series, limits) => {
      const latest = series.latest();
      const limit = series.memoryLimitBytes || limits?.memoryBytes;
      return [
        latest ? formatBytes(latest.memoryBytes) : '—',
        latest ? `${formatPercent(latest.memoryPercent)} of ${formatBytes(limit)}` : `of ${formatBytes(limit)}`,
      ];
    },
  },
  {
    name: 'PIDs',
    color: CHART_COLORS.pids,
    values: (series) => series.pids.map((value) => Math.max(value, 1)),
    thresholds: (t) => [t.pidsWarning, t.pidsCritical],
    range: (t, max, limits) => [1, 10 ** Math.ceil(Math.log10(Math.max(max, t?.pidsCritical ?? 1, limits?.pidsLimit ?? 1) * 1.05))],
    log: true,
    tick: (value) => `${value}`,
    headline: (series, limits) => {
      const latest = series.latest();
      const limit = series.pidsLimit ?? limits?.pidsLimit;
      return [latest ? `${latest.pids}` : '—', limit ? `of ${limit} allowed` : 'processes'];
    },
  },
];

/**
 * A uPlot plugin that draws horizontal dashed lines, each labelled at its left end; a label that
 * would cover another (close thresholds on a log scale) moves to the right of it.
 */
function thresholdLines(lines) {
  return {
    hooks: {
      draw: [
        (u) => {
          const { ctx, bbox } = u;
          const ratio = uPlot.pxRatio;
          /** @type {{ left: number, right: number, y: number }[]} */
          const labels = [];
          for (const { value, color, label } of lines()) {
            const y = Math.round(u.valToPos(value, 'y', true)) + 0.5;
            if (!Number.isFinite(y) || y < bbox.top || y > bbox.top + bbox.height) continue;
            ctx.save();
            ctx.strokeStyle = color;
            ctx.lineWidth = ratio;
            ctx.setLineDash([5 * ratio, 4 * ratio]);
            ctx.beginPath();
            ctx.moveTo(bbox.left, y);
            ctx.lineTo(bbox.left + bbox.width, y);
            ctx.stroke();
            ctx.setLineDash([]);
            ctx.font = `600 ${10 * ratio}px system-ui, sans-serif`;
            const width = ctx.measureText(label).width + 8 * ratio;
            const height = 14 * ratio;
            let x = bbox.left + 4 * ratio;
            for (const other of labels) if (Math.abs(other.y - y) < height && x < other.right) x = other.right + 4 * ratio;
            labels.push({ left: x, right: x + width, y });
            ctx.fillStyle = 'rgba(17, 24, 39, 0.88)';
            ctx.fillRect(x, y - height / 2, width, height);
            ctx.fillStyle = color;
            ctx.textAlign = 'left';
            ctx.textBaseline = 'middle';
            ctx.fillText(label, x + 4 * ratio, y + 0.5 * ratio);
            ctx.restore();
          }
        },
      ],
    },
  };
}

/** The three charts of one series. */
export class ResourceCharts {
  /**
   * @param {object} options
   * @param {import('../series.js').ResourceSeries} options.series
   * @param {() => Limits | null} options.limits the run's limits, when known
   * @param {() => Thresholds | null} options.thresholds from `healthReport { thresholds }`
   */
  constructor({ series, limits, thresholds }) {
    this.series = series;
    this.limits = limits;
    this.thresholds = thresholds;
    this.drawnVersion = -1;
    this.element = h('div.resource-charts', { dataset: { points: '0', key: series.key } });
    this.panels = METRICS.map((spec) => this.#panel(spec));
    this.empty = h('p.chart-empty', null, 'Waiting for the first resource sample…');
    this.element.append(this.empty, ...this.panels.map((panel) => panel.element));
    this.resizeObserver = new ResizeObserver(() => this.#resize());
    for (const panel of this.panels) this.resizeObserver.observe(panel.plotBox);
  }

  /** @param {MetricSpec} spec */
  #panel(spec) {
    const value = h('span.metric-value');
    const outOf = h('span.metric-of');
    const plotBox = h('div.metric-plot');
    const element = h(
      'div.metric',
      { dataset: { metric: spec.name.toLowerCase() } },
      h('div.metric-head', null, h('span.metric-name', null, h('i.swatch', { class: `swatch-${spec.name.toLowerCase()}` }), spec.name), outOf),
      value,
      plotBox,
    );
    return { spec, element, value, outOf, plotBox, /** @type {uPlot | null} */ plot: null, max: 0 };
  }

  #plotOptions(panel, width) {
    const { spec } = panel;
    const lines = () => {
      const t = this.thresholds();
      if (!t) return [];
      const [warning, critical] = spec.thresholds(t);
      return [
        { value: warning, color: CHART_COLORS.warning, label: `warn ${spec.tick(warning)}` },
        { value: critical, color: CHART_COLORS.critical, label: `crit ${spec.tick(critical)}` },
      ];
    };
    return {
      width,
      height: PLOT_HEIGHT,
      padding: [10, 22, 0, 2],
      legend: { show: false },
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6 } },
      scales: {
        x: {
          time: true,
          range: (_u, min, max) => {
            const hi = max ?? Date.now() / 1000;
            const lo = Math.max(hi - SERIES_WINDOW_SECONDS, Math.min(min ?? hi, hi - MIN_SPAN_SECONDS));
            return [lo, hi];
          },
        },
        y: {
          distr: spec.log ? 3 : 1,
          log: 10,
          range: () => spec.range(this.thresholds(), panel.max, this.limits()),
        },
      },
      axes: [
        {
          stroke: CHART_COLORS.axis,
          grid: { stroke: CHART_COLORS.grid, width: 1 },
          ticks: { show: false },
          font: '11px system-ui, sans-serif',
          size: 26,
          space: 80,
          values: (_u, splits) => splits.map((s) => clock(s)),
        },
        {
          stroke: CHART_COLORS.axis,
          grid: { stroke: CHART_COLORS.grid, width: 1 },
          ticks: { show: false },
          font: '11px system-ui, sans-serif',
          size: 42,
          space: 24,
          // Log scales: a line per power of ten only (uPlot would add 2×, 3×… in between).
          splits: spec.log ? (_u, _axis, min, max) => powersOfTen(min, max) : undefined,
          values: (_u, splits) => splits.map((s) => (s == null ? '' : spec.tick(s))),
        },
      ],
      series: [
        {},
        {
          label: spec.name,
          stroke: spec.color,
          width: 2,
          fill: `${spec.color}26`,
          points: { show: false },
          spanGaps: false,
        },
      ],
      plugins: [thresholdLines(lines)],
    };
  }

  /** Redraws when the series or the thresholds changed since the last draw. */
  update() {
    const t = this.thresholds();
    const key = `${this.series.version}|${t ? Object.values(t).join(',') : ''}`;
    if (key === this.drawnVersion) return;
    this.drawnVersion = key;
    const limits = this.limits();
    const count = this.series.length;
    this.element.dataset.points = String(count);
    this.empty.hidden = count > 0;
    for (const panel of this.panels) {
      const values = panel.spec.values(this.series, limits);
      panel.max = values.reduce((max, value) => Math.max(max, value ?? 0), 0);
      const [headline, outOf] = panel.spec.headline(this.series, limits);
      setText(panel.value, headline);
      setText(panel.outOf, outOf);
      if (t) {
        const [warning, critical] = panel.spec.thresholds(t);
        panel.element.dataset.warning = String(warning);
        panel.element.dataset.critical = String(critical);
      }
      setModifier(panel.element, 'level-', t ? levelOf(values[values.length - 1], panel.spec.thresholds(t)) : null);
      const data = [this.series.time.slice(), values];
      if (panel.plot) panel.plot.setData(data);
      else this.#create(panel, data);
    }
  }

  #create(panel, data) {
    const width = panel.plotBox.clientWidth;
    if (width < 40) return; // not laid out yet: the resize observer creates it
    panel.plot = new uPlot(this.#plotOptions(panel, width), data, panel.plotBox);
  }

  #resize() {
    for (const panel of this.panels) {
      const width = panel.plotBox.clientWidth;
      if (width < 40) continue;
      if (!panel.plot) {
        this.drawnVersion = -1;
        this.update();
      } else if (Math.abs(panel.plot.width - width) > 1) {
        panel.plot.setSize({ width, height: PLOT_HEIGHT });
      }
    }
  }

  destroy() {
    this.resizeObserver.disconnect();
    for (const panel of this.panels) panel.plot?.destroy();
    this.element.remove();
  }
}

/** The level a value is at, against [warning, critical]. */
function levelOf(value, [warning, critical]) {
  if (value == null) return null;
  return value >= critical ? 'CRITICAL' : value >= warning ? 'WARNING' : 'HEALTHY';
}

/** 10^n from `min` to `max`, every other one when there are more than four. */
function powersOfTen(min, max) {
  if (!(min > 0) || !(max > min)) return [];
  const from = Math.ceil(Math.log10(min) - 1e-9);
  const to = Math.floor(Math.log10(max) + 1e-9);
  const step = to - from > 4 ? 2 : 1;
  const splits = [];
  for (let exponent = to; exponent >= from; exponent -= step) splits.unshift(Number((10 ** exponent).toPrecision(1)));
  return splits;
}

function clock(seconds) {
  const date = new Date(seconds * 1000);
  return `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}:${String(date.getSeconds()).padStart(2, '0')}`;
}
