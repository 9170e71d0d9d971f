/**
 * Keeps the store in step with bosun, over graphql-ws only.
 *
 * At every (re)connection: the subscriptions start first (queue status, every run's updates,
 * resource samples, WARNING+ alerts), then one snapshot query reads runs, the running runs'
 * recent samples, health and advice. Run updates that arrive before the snapshot are applied
 * after it, and the store never takes a run back to an earlier status, so nothing that happens
 * during the re-sync is lost. Waiting runs get a `queuePositionChanged` subscription each.
 * Health and advice have no subscription: they are read again after the events that change them
 * (an alert, a run starting or finishing, the queue's limit changing), never on a timer.
 */
import {
  AGENT_RUN_UPDATED,
  CHART_SAMPLES,
  HEALTH_ALERTS,
  HEALTH_AND_ADVICE,
  QUEUE_POSITION_CHANGED,
  QUEUE_STATUS_CHANGED,
  RESOURCE_SAMPLES,
  RUN_LIST_LIMIT,
  SNAPSHOT,
} from './operations.js';
import { FINAL_STATUSES } from './store.js';

/** Health is read again this long after the last event that asked for it (events come in bursts). */
const HEALTH_REFRESH_DELAY_MS = 250;

/**
 * @param {import('./connection.js').Connection} connection
 * @param {import('./store.js').Store} store
 * @returns {{ refreshHealth: () => void, followPosition: (runId: string) => void }}
 */
export function startLiveFeed(connection, store) {
  /** @type {Map<string, () => void>} run id → its position subscription, in the current session */
  let positionSubscriptions = new Map();
  let refreshTimer = 0;

  const refreshHealth = () => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      const session = connection.session();
      if (!session) return; // the next snapshot reads them
      session.query(HEALTH_AND_ADVICE).then(
        (data) => {
          store.setHealth(data.healthReport);
          store.setAdvice(data.concurrencyAdvice);
        },
        () => undefined, // closed meanwhile: the next snapshot reads them
      );
    }, HEALTH_REFRESH_DELAY_MS);
  };

  const followPosition = (runId) => {
    const session = connection.session();
    if (!session || positionSubscriptions.has(runId)) return;
    const subscriptions = positionSubscriptions;
    const dispose = session.subscribe(
      QUEUE_POSITION_CHANGED,
      { agentId: runId },
      {
        next: (data) => store.setPosition(runId, data.queuePositionChanged.position),
        error: () => subscriptions.delete(runId),
        complete: () => subscriptions.delete(runId),
      },
    );
    subscriptions.set(runId, dispose);
  };

  const applyRun = (run) => {
    const change = store.upsertRun(run);
    if (!change) return;
    const { previous } = change;
    if (run.status === 'QUEUED') followPosition(run.id);
    else positionSubscriptions.get(run.id)?.();
    const started = run.status === 'RUNNING' && previous?.status !== 'RUNNING';
    const finished = FINAL_STATUSES.has(run.status) && !FINAL_STATUSES.has(previous?.status);
    if (started || finished) refreshHealth();
  };

  connection.onSession(async (session) => {
    positionSubscriptions = new Map();
    store.setSynced(false);

    session.subscribe(
      QUEUE_STATUS_CHANGED,
      {},
      {
        next: (data) => {
          const before = store.queue;
          store.setQueue(data.queueStatusChanged);
          if (before && before.maxConcurrency !== data.queueStatusChanged.maxConcurrency) refreshHealth();
        },
      },
    );
    /** @type {any[] | null} run updates held until the snapshot is in */
    let early = [];
    session.subscribe(
      AGENT_RUN_UPDATED,
      {},
      {
        next: (data) => (early ? early.push(data.agentRunUpdated) : applyRun(data.agentRunUpdated)),
      },
    );
    session.subscribe(RESOURCE_SAMPLES, {}, { next: (data) => store.addSample(data.resourceSamples) });
    session.subscribe(
      HEALTH_ALERTS,
      { minLevel: 'WARNING' },
      {
        next: (data) => {
          store.addAlert(data.healthAlerts);
          refreshHealth();
        },
      },
    );

    let snapshot;
    try {
      snapshot = await session.query(SNAPSHOT, { limit: RUN_LIST_LIMIT, samples: CHART_SAMPLES });
    } catch (error) {
      if (!session.disposed) console.error('bosun dashboard: the snapshot query failed', error);
      return;
    }
    store.replaceRuns(snapshot.agentRuns);
    store.addSamples(snapshot.live.flatMap((run) => run.samples));
    store.setHealth(snapshot.healthReport);
    store.setAdvice(snapshot.concurrencyAdvice);
    const held = early;
    early = null;
    for (const run of held) applyRun(run);
    for (const run of store.runs.values()) if (run.status === 'QUEUED') followPosition(run.id);
    store.setSynced(true);
  });

  return { refreshHealth, followPosition };
}
