/**
 * The runs, newest first: status (with the place in line while waiting), failure reason, queue
 * wait, duration, exit code, and a cancel button while the run is live. A click opens the run
 * into its detail. Rows are kept and updated in place, so a button is never replaced under the
 * pointer.
 */
import { h, replaceChildren, setModifier, setText } from '../dom.js';
import { durationBetween, formatDuration, shortId, words } from '../format.js';
import { mutate } from '../http.js';
import { CANCEL_AGENT } from '../operations.js';
import { FINAL_STATUSES } from '../store.js';

/**
 * @param {HTMLElement} root the card
 * @param {import('../store.js').Store} store
 * @param {import('./run-detail.js').RunDetail} detail
 */
export function mountRunsView(root, store, detail) {
  const summary = h('span.card-note');
  const list = h('div.run-list', { 'data-testid': 'run-list' });
  const empty = h('p.empty-state', { 'data-testid': 'runs-empty' }, 'No runs yet — start one with the form on the left.');
  replaceChildren(root, h('header.card-head', null, h('h2', null, 'Runs'), summary), empty, list);

  /** @type {Map<string, ReturnType<typeof createRow>>} */
  const rows = new Map();

  const cancel = async (row, runId) => {
    row.cancel.disabled = true;
    setText(row.cancel, 'Cancelling…');
    try {
      const data = await mutate(CANCEL_AGENT, { id: runId });
      store.upsertRun(data.cancelAgent);
    } catch (error) {
      row.cancel.disabled = false;
      setText(row.cancel, 'Cancel');
      row.cancel.title = error.message;
      setText(row.problem, error.message);
    }
  };

  const createRow = (runId) => {
    const status = h('span.badge.status', { 'data-testid': 'run-status' });
    const position = h('span.position', { 'data-testid': 'run-position' });
    const name = h('strong.run-name');
    const id = h('span.mono.muted', null, shortId(runId));
    const reason = h('span.run-reason', { 'data-testid': 'run-reason' });
    const waited = h('b');
    const duration = h('b');
    const exit = h('b', { 'data-testid': 'run-exit' });
    const problem = h('span.text-error');
    const cancelButton = h('button.btn.btn-danger.btn-small', { type: 'button', 'data-testid': 'run-cancel' }, 'Cancel');
    const head = h(
      'div.run-summary',
      { role: 'button', tabindex: 0, 'aria-expanded': 'false' },
      h('span.chevron', { 'aria-hidden': 'true' }, '›'),
      h('div.run-status-cell', null, status, position),
      h('div.run-title', null, name, h('span.run-sub', null, id, reason)),
      h('span.fact', null, h('small', null, 'waited'), waited),
      h('span.fact', null, h('small', null, 'ran'), duration),
      h('span.fact', null, h('small', null, 'exit'), exit),
      h('div.run-actions', null, problem, cancelButton),
    );
    const element = h('article.run', { dataset: { runId } }, head);
    const row = { element, head, status, position, name, reason, waited, duration, exit, problem, cancel: cancelButton };
    const toggle = () => store.select(store.selectedRunId === runId ? null : runId);
    head.addEventListener('click', (event) => {
      if (!(event.target instanceof Element && event.target.closest('button'))) toggle();
    });
    head.addEventListener('keydown', (event) => {
      if ((event.key === 'Enter' || event.key === ' ') && event.target === head) {
        event.preventDefault();
        toggle();
      }
    });
    cancelButton.addEventListener('click', () => void cancel(row, runId));
    return row;
  };

  const updateRow = (row, run, now) => {
    const live = !FINAL_STATUSES.has(run.status);
    const place = store.positions.get(run.id) ?? 0;
    setModifier(row.element, 'status-', run.status);
    row.element.dataset.status = run.status;
    row.element.dataset.position = String(run.status === 'QUEUED' ? place : 0);
    setModifier(row.status, 'status-', run.status);
    setText(row.status, run.status === 'QUEUED' ? 'waiting' : words(run.status));
    setText(row.position, run.status === 'QUEUED' && place > 0 ? `#${place}` : '');
    row.position.hidden = !(run.status === 'QUEUED' && place > 0);
    setText(row.name, run.group?.name ?? 'run');
    setText(row.reason, run.failureReason ? words(run.failureReason) : '');
    row.reason.hidden = !run.failureReason;
    setText(row.waited, formatDuration(durationBetween(run.queuedAt, run.startedAt ?? (run.status === 'QUEUED' ? null : run.finishedAt), now)));
    setText(row.duration, run.startedAt ? formatDuration(durationBetween(run.startedAt, run.finishedAt, now)) : '—');
    setText(row.exit, run.exitCode ?? '—');
    setModifier(row.exit, 'exit-', run.exitCode == null ? null : run.exitCode === 0 ? 'ok' : 'bad');
    row.cancel.hidden = !live;
    if (!live) setText(row.problem, '');
    const open = store.selectedRunId === run.id;
    row.element.classList.toggle('open', open);
    row.head.setAttribute('aria-expanded', String(open));
  };

  const render = () => {
    const runs = store.sortedRuns();
    const now = Date.now();
    empty.hidden = runs.length > 0;
    const live = runs.filter((run) => !FINAL_STATUSES.has(run.status)).length;
    setText(summary, runs.length ? `${runs.length} shown · ${live} live` : '');
    const keep = new Set(runs.map((run) => run.id));
    for (const [runId, row] of rows) {
      if (!keep.has(runId)) {
        row.element.remove();
        rows.delete(runId);
      }
    }
    let previous = null;
    for (const run of runs) {
      let row = rows.get(run.id);
      if (!row) rows.set(run.id, (row = createRow(run.id)));
      updateRow(row, run, now);
      const expected = previous ? previous.nextElementSibling : list.firstElementChild;
      if (expected !== row.element) list.insertBefore(row.element, expected);
      previous = row.element;
    }
    placeDetail();
  };

  const placeDetail = () => {
    const runId = store.selectedRunId;
    const row = runId ? rows.get(runId) : undefined;
    if (!row) {
      if (runId && !store.runs.has(runId)) store.select(null);
      detail.element.remove();
      return;
    }
    if (detail.element.parentElement !== row.element) row.element.append(detail.element);
  };

  store.on('runs', render);
  store.on('selection', () => {
    detail.open(store.selectedRunId);
    render();
  });
  render();

  // Waiting and running times move on their own: refresh them every second, locally.
  setInterval(() => {
    const now = Date.now();
    for (const run of store.runs.values()) {
      const row = rows.get(run.id);
      if (row && !FINAL_STATUSES.has(run.status)) updateRow(row, run, now);
    }
    detail.tick();
  }, 1_000);

  return { render };
}
