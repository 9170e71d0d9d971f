/**
 * A card per running container with its live CPU, memory and pids charts, its health level (the
 * worst unresolved alert) and a link to open its run. Cards come and go with the runs.
 */
import { frameScheduler, h, replaceChildren, setModifier, setText } from '../dom.js';
import { formatDuration, durationBetween, shortId, words } from '../format.js';
import { ResourceCharts } from './resource-charts.js';

const LEVEL_RANK = { HEALTHY: 0, WARNING: 1, CRITICAL: 2 };

/**
 * @param {HTMLElement} root the card
 * @param {import('../store.js').Store} store
 */
export function mountLiveChartsView(root, store) {
  const note = h('span.card-note');
  const grid = h('div.chart-grid', { 'data-testid': 'live-charts' });
  const empty = h('p.empty-state', null, 'No container is running — start a run and its CPU, memory and PIDs appear here live.');
  replaceChildren(root, h('header.card-head', null, h('h2', null, 'Live resources'), note), empty, grid);

  /** @type {Map<string, { element: HTMLElement, charts: ResourceCharts, level: HTMLElement, title: HTMLElement, uptime: HTMLElement }>} */
  const cards = new Map();

  /** Running runs, and containers the monitor reports that bosun did not start. */
  const containers = () => {
    const list = store
      .sortedRuns()
      .filter((run) => run.status === 'RUNNING')
      .map((run) => ({ key: run.id, run, name: run.group?.name ?? 'run' }));
    for (const container of store.health?.containers ?? []) {
      if (!container.agentId) list.push({ key: container.containerId, run: null, name: container.name });
    }
    return list;
  };

  const levelOf = (key) => {
    let level = 'HEALTHY';
    for (const alert of store.alerts.values()) {
      if (alert.resolvedAt || (alert.agentId ?? alert.containerId) !== key) continue;
      if (LEVEL_RANK[alert.level] > LEVEL_RANK[level]) level = alert.level;
    }
    return level;
  };

  const createCard = ({ key, run, name }) => {
    const charts = new ResourceCharts({
      series: store.seriesFor(key),
      limits: () => store.runs.get(key)?.limits ?? null,
      thresholds: () => store.health?.thresholds ?? null,
    });
    const level = h('span.badge');
    const title = h('strong', null, name);
    const uptime = h('span.muted');
    const open = run ? h('button.btn.btn-ghost.btn-small', { type: 'button', onclick: () => store.select(key) }, 'Open run') : null;
    const element = h(
      'article.chart-card',
      { dataset: { key } },
      h('header.chart-card-head', null, level, title, h('span.mono.muted', null, shortId(key)), uptime, h('span.spacer'), open),
      charts.element,
    );
    return { element, charts, level, title, uptime };
  };

  const render = () => {
    const list = containers();
    const keep = new Set(list.map((item) => item.key));
    for (const [key, card] of cards) {
      if (keep.has(key)) continue;
      card.charts.destroy();
      card.element.remove();
      cards.delete(key);
    }
    for (const item of list) {
      let card = cards.get(item.key);
      if (!card) {
        cards.set(item.key, (card = createCard(item)));
        grid.append(card.element);
      }
      const level = levelOf(item.key);
      setText(card.level, words(level));
      setModifier(card.level, 'level-', level);
      setModifier(card.element, 'level-', level);
      setText(card.uptime, item.run?.startedAt ? `running ${formatDuration(durationBetween(item.run.startedAt, null))}` : '');
      card.charts.update();
    }
    empty.hidden = list.length > 0;
    setText(note, list.length ? `${list.length} container${list.length === 1 ? '' : 's'} · last 5 min` : '');
  };

  const updateCharts = () => {
    for (const card of cards.values()) card.charts.update();
  };

  store.on('runs', render);
  store.on('health', render);
  store.on('alerts', render);
  store.on('series', frameScheduler(updateCharts));
  render();
  return { render };
}
