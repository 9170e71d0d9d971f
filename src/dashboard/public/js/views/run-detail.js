/**
 * A run opened into its timeline: what it ran with, its steps with their exit codes and times,
 * its resource charts, its alerts, and its log streaming live. One instance is moved under
 * whichever run is open.
 */
import { frameScheduler, h, replaceChildren, setModifier } from '../dom.js';
import { durationBetween, externalState, formatBytes, formatClock, formatCpus, formatDuration, formatPercent, shortId, words } from '../format.js';
import { CHART_SAMPLES, RUN_HISTORY } from '../operations.js';
import { FINAL_STATUSES } from '../store.js';
import { LogView } from './log-view.js';
import { ResourceCharts } from './resource-charts.js';

export class RunDetail {
  /**
   * @param {import('../store.js').Store} store
   * @param {import('../connection.js').Connection} connection
   * @param {import('../log-follower.js').LogFollower} follower
   */
  constructor(store, connection, follower) {
    this.store = store;
    this.connection = connection;
    this.follower = follower;
    /** @type {string | null} */
    this.runId = null;
    /** @type {ResourceCharts | null} */
    this.charts = null;
    this.facts = h('dl.facts');
    this.steps = h('ol.timeline', { 'data-testid': 'run-steps' });
    this.chartBox = h('div.detail-chart');
    this.alerts = h('ul.detail-alerts');
    this.logs = new LogView(follower, connection);
    this.element = h(
      'div.run-detail',
      { 'data-testid': 'run-detail' },
      h('div.detail-grid', null, h('section', null, h('h4', null, 'Run'), this.facts), h('section', null, h('h4', null, 'Timeline'), this.steps)),
      h('section', null, h('h4', null, 'Resources'), this.chartBox),
      h('section', null, h('h4', null, 'Alerts'), this.alerts),
      this.logs.element,
    );
    store.on('runs', () => this.render());
    store.on('alerts', () => this.#renderAlerts());
    store.on(
      'series',
      frameScheduler(() => this.charts?.update()),
    );
    store.on('health', () => this.charts?.update());
  }

  /** Shows `runId` (null: nothing), following its log from the first line. */
  open(runId) {
    if (this.runId === runId) return;
    this.runId = runId;
    this.charts?.destroy();
    this.charts = null;
    this.follower.follow(runId);
    if (!runId) return;
    const store = this.store;
    this.charts = new ResourceCharts({
      series: store.seriesFor(runId),
      limits: () => store.runs.get(runId)?.limits ?? null,
      thresholds: () => store.health?.thresholds ?? null,
    });
    replaceChildren(this.chartBox, this.charts.element);
    this.render();
    this.#renderAlerts();
    this.charts.update();
    void this.#loadHistory(runId);
  }

  /** The run's recorded samples and alerts, read once when it is opened. */
  async #loadHistory(runId) {
    const session = this.connection.session();
    if (!session) return;
    try {
      const { agentRun } = await session.query(RUN_HISTORY, { id: runId, samples: CHART_SAMPLES });
      if (!agentRun || this.runId !== runId) return;
      this.store.addSamples(agentRun.samples);
      for (const alert of agentRun.alerts) this.store.addAlert(alert);
    } catch {
      // Closed meanwhile, or the run is gone: the live feed has what there is.
    }
  }

  render() {
    const run = this.runId ? this.store.runs.get(this.runId) : null;
    if (!run) return;
    const now = Date.now();
    const fact = (label, value, cls) => [h('dt', null, label), h('dd', cls ? { class: cls } : null, value)];
    replaceChildren(
      this.facts,
      fact('Run', h('span.mono', null, run.id)),
      fact('Group', run.group?.name ?? '—'),
      fact('Image', h('span.mono', null, run.image)),
      fact('Limits', `${formatCpus(run.limits.cpus)} · ${formatBytes(run.limits.memoryBytes)} · ${run.limits.pidsLimit} pids`),
      fact('Queued', formatClock(run.queuedAt)),
      fact('Waited', formatDuration(durationBetween(run.queuedAt, run.startedAt ?? (run.status === 'QUEUED' ? null : run.finishedAt), now))),
      fact('Ran for', run.startedAt ? formatDuration(durationBetween(run.startedAt, run.finishedAt, now)) : '—'),
      fact('Container', run.containerId ? h('span.mono', null, shortId(run.containerId)) : '—'),
      run.peak ? fact('Peak', `CPU ${formatPercent(run.peak.cpuPercent)} · ${formatBytes(run.peak.memoryBytes)} · ${run.peak.pids} pids`) : null,
      run.error ? fact('Error', run.error, 'text-error') : null,
      externalState(run, now) ? fact('Agent', externalState(run, now)) : null,
    );

    if (run.steps.length === 0) {
      replaceChildren(
        this.steps,
        h('li.empty', null, run.status === 'QUEUED' ? 'Waiting for a slot — steps start when the run does.' : 'No step started.'),
      );
    } else {
      replaceChildren(
        this.steps,
        ...run.steps.map((step) => {
          const state = step.exitCode == null ? (FINAL_STATUSES.has(run.status) ? 'stopped' : 'running') : step.exitCode === 0 ? 'ok' : 'failed';
          return h(
            'li.step',
            { class: `step-${state}` },
            h('span.step-dot'),
            h(
              'div.step-body',
              null,
              h('code.step-command', null, step.command),
              h(
                'span.step-meta',
                null,
                `#${step.index} · `,
                step.exitCode == null ? words(state) : `exit ${step.exitCode}`,
                ` · ${formatDuration(durationBetween(step.startedAt, step.finishedAt, now))}`,
              ),
            ),
          );
        }),
      );
    }
  }

  #renderAlerts() {
    if (!this.runId) return;
    const alerts = this.store.alertsOf(this.runId);
    if (alerts.length === 0) {
      replaceChildren(this.alerts, h('li.empty', null, 'No alerts for this run.'));
      return;
    }
    replaceChildren(
      this.alerts,
      ...alerts.map((alert) => {
        const item = h(
          'li.alert-mini',
          null,
          h('span.badge', { class: `level-${alert.level}` }, words(alert.level)),
          h('span', null, alert.message),
          h('span.muted', null, alert.resolvedAt ? `recovered ${formatClock(alert.resolvedAt)}` : `since ${formatClock(alert.at)}`),
        );
        setModifier(item, 'resolved-', alert.resolvedAt ? 'yes' : null);
        return item;
      }),
    );
  }

  /** Updates the ticking durations (no network). */
  tick() {
    const run = this.runId ? this.store.runs.get(this.runId) : null;
    if (run && !FINAL_STATUSES.has(run.status)) this.render();
  }
}
