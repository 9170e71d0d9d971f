/**
 * The alert feed: WARNING and CRITICAL alerts as they are raised, and their recoveries, newest
 * first. A click on an entry opens its run.
 */
import { h, replaceChildren, setText } from '../dom.js';
import { durationBetween, formatClock, formatDuration, formatPercent, shortId, words } from '../format.js';

/** An alert's value in its metric's unit. */
function metricValue(metric, value) {
  return metric === 'PIDS' ? `${Math.round(value)} pids` : formatPercent(value);
}

/**
 * @param {HTMLElement} root the card
 * @param {import('../store.js').Store} store
 */
export function mountAlertFeedView(root, store) {
  const counts = h('span.card-note');
  const list = h('ol.alert-feed', { 'data-testid': 'alert-feed' });
  const empty = h(
    'p.empty-state',
    null,
    'No alerts — every container is within its thresholds. Warnings and critical alerts show up here as they happen.',
  );
  replaceChildren(root, h('header.card-head', null, h('h2', null, 'Alerts'), counts), empty, list);

  const render = () => {
    const feed = store.feed;
    empty.hidden = feed.length > 0;
    const open = [...store.alerts.values()].filter((alert) => !alert.resolvedAt);
    const critical = open.filter((alert) => alert.level === 'CRITICAL').length;
    setText(counts, open.length ? `${open.length} open${critical ? ` · ${critical} critical` : ''}` : feed.length ? 'all recovered' : '');
    replaceChildren(
      list,
      ...feed.map((entry) => {
        const { alert } = entry;
        const run = alert.agentId ? store.runs.get(alert.agentId) : null;
        const recovered = entry.kind === 'recovered';
        const who = alert.agentId
          ? `run ${shortId(alert.agentId)}${run?.group?.name ? ` · ${run.group.name}` : ''}`
          : `container ${shortId(alert.containerId)}`;
        return h(
          'li.alert-entry',
          {
            class: recovered ? 'kind-recovered' : `kind-raised level-${alert.level}${alert.resolvedAt ? ' is-resolved' : ''}`,
            dataset: { level: recovered ? 'RECOVERED' : alert.level, metric: alert.metric, alertId: alert.id },
            onclick: alert.agentId ? () => store.select(alert.agentId) : null,
          },
          h('span.badge', { class: recovered ? 'level-HEALTHY' : `level-${alert.level}` }, recovered ? 'recovered' : words(alert.level)),
          h(
            'div.alert-body',
            null,
            h('p.alert-message', null, recovered ? `${words(alert.metric).toUpperCase()} back under its threshold` : alert.message),
            h(
              'p.alert-meta',
              null,
              `${formatClock(entry.at)} · ${who}`,
              recovered
                ? ` · after ${formatDuration(durationBetween(alert.at, alert.resolvedAt))}`
                : ` · ${metricValue(alert.metric, alert.value)} ≥ ${metricValue(alert.metric, alert.threshold)}`,
            ),
          ),
        );
      }),
    );
  };

  store.on('alerts', render);
  store.on('runs', render);
  render();
  return { render };
}
