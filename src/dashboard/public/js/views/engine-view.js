/**
 * The Docker engine's state and the containers' health (`healthReport`), and the concurrency
 * advice (`concurrencyAdvice`) with a button that applies it.
 */
import { h, replaceChildren, setModifier, setText, showMessage } from '../dom.js';
import { formatAgo, formatPercent } from '../format.js';
import { mutate } from '../http.js';
import { SET_MAX_CONCURRENCY } from '../operations.js';

/**
 * @param {HTMLElement} engineRoot the engine card
 * @param {HTMLElement} adviceRoot the advice card
 * @param {import('../store.js').Store} store
 */
export function mountEngineView(engineRoot, adviceRoot, store) {
  const state = h('span.badge', { 'data-testid': 'docker-state' });
  const version = h('span.muted');
  const error = h('p.text-error');
  const checked = h('span.card-note');
  const stat = (label) => {
    const value = h('b.stat-value', null, '—');
    return { value, element: h('div.stat', null, value, h('span.stat-label', null, label)) };
  };
  const healthy = stat('healthy');
  const warning = stat('warning');
  const critical = stat('critical');
  const averages = h('p.muted');
  replaceChildren(
    engineRoot,
    h('header.card-head', null, h('h2', null, 'Docker engine'), checked),
    h('p.engine-line', null, state, version),
    error,
    h('div.stats', null, healthy.element, warning.element, critical.element),
    averages,
  );

  const recommendation = h('p.advice-line', { 'data-testid': 'advice' });
  const reason = h('p.muted');
  const apply = h('button.btn.btn-primary.btn-small', { type: 'button', hidden: true }, 'Apply');
  const message = h('p.form-message', { role: 'status' });
  replaceChildren(adviceRoot, h('header.card-head', null, h('h2', null, 'Concurrency advice')), recommendation, reason, apply, message);
  apply.addEventListener('click', async () => {
    const value = store.advice?.recommended;
    if (value == null) return;
    try {
      store.setQueue((await mutate(SET_MAX_CONCURRENCY, { value })).setMaxConcurrency);
      showMessage(message, `Now up to ${value} at once.`, 'ok');
    } catch (failure) {
      showMessage(message, failure.message, 'error');
    }
  });

  const renderEngine = () => {
    const report = store.health;
    if (!report) {
      setText(state, 'unknown');
      setModifier(state, 'level-', 'UNKNOWN');
      return;
    }
    const { docker, overall } = report;
    setText(state, docker.reachable ? 'reachable' : 'unreachable');
    setModifier(state, 'level-', docker.reachable ? 'HEALTHY' : 'CRITICAL');
    setText(version, docker.version ? `Docker ${docker.version}` : '');
    setText(error, docker.error ?? '');
    error.hidden = !docker.error;
    setText(checked, `checked ${formatAgo(report.generatedAt)}`);
    setText(healthy.value, overall.healthyContainers);
    setText(warning.value, overall.warningContainers);
    setText(critical.value, overall.criticalContainers);
    setModifier(warning.element, 'level-', overall.warningContainers ? 'WARNING' : null);
    setModifier(critical.element, 'level-', overall.criticalContainers ? 'CRITICAL' : null);
    setText(
      averages,
      overall.totalContainers
        ? `${overall.totalContainers} container${overall.totalContainers === 1 ? '' : 's'} · avg CPU ${formatPercent(overall.avgCpuPercent)} · avg memory ${formatPercent(overall.avgMemoryPercent)}`
        : 'No container running.',
    );
  };

  const renderAdvice = () => {
    const advice = store.advice;
    if (!advice) {
      setText(recommendation, '—');
      return;
    }
    const same = advice.recommended === advice.current;
    setText(
      recommendation,
      same
        ? `Keep ${advice.current === 0 ? 'no limit' : `${advice.current} at once`}`
        : `Recommended: ${advice.recommended} at once (now ${advice.current === 0 ? 'unlimited' : advice.current})`,
    );
    setModifier(recommendation, 'advice-', same ? 'keep' : advice.recommended > advice.current ? 'up' : 'down');
    setText(reason, advice.reason);
    apply.hidden = same;
    setText(apply, `Apply ${advice.recommended}`);
  };

  store.on('health', renderEngine);
  store.on('advice', renderAdvice);
  renderEngine();
  renderAdvice();
  // "checked 12 s ago" moves with the clock, not with the network.
  setInterval(() => store.health && setText(checked, `checked ${formatAgo(store.health.generatedAt)}`), 5_000);
}
