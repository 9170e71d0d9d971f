/**
 * The queue card: running and waiting counts, the limit of runs at once with a control to change
 * it (`setMaxConcurrency`), utilization, paused state, and the waiting runs in their order.
 */
import { h, replaceChildren, setModifier, setText, showMessage } from '../dom.js';
import { durationBetween, formatDuration, formatPercent, shortId } from '../format.js';
import { mutate } from '../http.js';
import { SET_MAX_CONCURRENCY } from '../operations.js';

/** The schema's bounds of `setMaxConcurrency(value)`. */
const MAX_CONCURRENCY = 10_000;

/**
 * @param {HTMLElement} root the card
 * @param {import('../store.js').Store} store
 */
export function mountQueueView(root, store) {
  const running = h('b.stat-value', { 'data-testid': 'queue-running' }, '—');
  const waiting = h('b.stat-value', { 'data-testid': 'queue-waiting' }, '—');
  const limit = h('b.stat-value', { 'data-testid': 'queue-max' }, '—');
  const paused = h('span.badge.badge-paused', { hidden: true }, 'paused');
  const utilizationText = h('span.util-text', { 'data-testid': 'queue-utilization' }, '—');
  const utilizationFill = h('span.util-fill');
  const input = h('input#max-concurrency', {
    type: 'number',
    min: 0,
    max: MAX_CONCURRENCY,
    step: 1,
    inputmode: 'numeric',
    'aria-label': 'Runs at once',
    'data-testid': 'max-concurrency-input',
  });
  const message = h('p.form-message', { role: 'status' });
  const waitingList = h('ol.waiting-list', { 'data-testid': 'waiting-list' });
  let editing = false;

  const apply = async (value) => {
    if (!Number.isInteger(value) || value < 0 || value > MAX_CONCURRENCY) {
      showMessage(message, `Enter a whole number from 0 to ${MAX_CONCURRENCY} (0 = unlimited).`, 'error');
      return;
    }
    showMessage(message, 'Applying…', 'info');
    try {
      const data = await mutate(SET_MAX_CONCURRENCY, { value });
      store.setQueue(data.setMaxConcurrency);
      editing = false;
      showMessage(message, value === 0 ? 'No limit: every waiting run starts.' : `Up to ${value} run${value === 1 ? '' : 's'} at once.`, 'ok');
    } catch (error) {
      showMessage(message, error.message, 'error');
    }
  };
  const current = () => store.queue?.maxConcurrency ?? 0;
  const step = (delta) => apply(Math.max(0, Math.min(MAX_CONCURRENCY, (Number(input.value) || current()) + delta)));

  input.addEventListener('input', () => (editing = true));
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') void apply(Number(input.value));
    if (event.key === 'Escape') {
      editing = false;
      render();
    }
  });

  replaceChildren(
    root,
    h('header.card-head', null, h('h2', null, 'Queue'), paused),
    h(
      'div.stats',
      null,
      h('div.stat', null, running, h('span.stat-label', null, 'running')),
      h('div.stat', null, waiting, h('span.stat-label', null, 'waiting')),
      h('div.stat', null, limit, h('span.stat-label', null, 'limit')),
    ),
    h('div.util', null, h('span.util-label', null, 'Utilization'), h('span.util-bar', null, utilizationFill), utilizationText),
    h(
      'div.concurrency',
      null,
      h('label', { for: 'max-concurrency' }, 'Runs at once'),
      h(
        'div.stepper',
        null,
        h('button.btn.btn-icon', { type: 'button', title: 'One fewer', 'aria-label': 'One fewer', onclick: () => step(-1) }, '−'),
        input,
        h('button.btn.btn-icon', { type: 'button', title: 'One more', 'aria-label': 'One more', onclick: () => step(1) }, '+'),
        h('button.btn.btn-primary', { type: 'button', 'data-testid': 'max-concurrency-apply', onclick: () => apply(Number(input.value)) }, 'Set'),
      ),
      h('p.hint', null, '0 = no limit'),
    ),
    message,
    h('h3.subhead', null, 'Waiting in line'),
    waitingList,
  );

  const render = () => {
    const queue = store.queue;
    setText(running, queue ? queue.running : '—');
    setText(waiting, queue ? queue.queued : '—');
    setText(limit, queue ? (queue.maxConcurrency === 0 ? '∞' : queue.maxConcurrency) : '—');
    paused.hidden = !queue?.paused;
    const utilization = queue?.utilizationPercent ?? 0;
    setText(utilizationText, queue ? (queue.maxConcurrency === 0 ? 'unlimited' : formatPercent(utilization)) : '—');
    utilizationFill.style.width = `${Math.min(100, utilization)}%`;
    setModifier(utilizationFill, 'util-', utilization >= 100 ? 'full' : utilization >= 70 ? 'busy' : 'ok');
    if (!editing && document.activeElement !== input && queue) input.value = String(queue.maxConcurrency);

    const line = [...store.positions.entries()]
      .filter(([id, position]) => position > 0 && store.runs.get(id)?.status === 'QUEUED')
      .sort((a, b) => a[1] - b[1]);
    if (line.length === 0) {
      replaceChildren(
        waitingList,
        h('li.empty', null, queue?.queued ? 'Reading the line…' : 'Nobody waiting — runs start as soon as a slot is free.'),
      );
      return;
    }
    replaceChildren(
      waitingList,
      ...line.map(([id, position]) => {
        const run = store.runs.get(id);
        return h(
          'li.waiting',
          { dataset: { runId: id, position: String(position) } },
          h('span.position', null, `#${position}`),
          h('span.waiting-name', null, run?.group?.name ?? shortId(id)),
          h('span.mono.muted', null, shortId(id)),
          h('span.muted', null, `waiting ${formatDuration(durationBetween(run?.queuedAt, null))}`),
        );
      }),
    );
  };

  store.on('queue', render);
  store.on('runs', render);
  render();
  return { render };
}
