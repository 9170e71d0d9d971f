/**
 * The dashboard's entry point: one connection, one store, the live feed that fills it, and the
 * views that show it.
 */
import { connect } from './connection.js';
import { installDebugHook } from './debug-hook.js';
import { startLiveFeed } from './live-feed.js';
import { LogFollower } from './log-follower.js';
import { Store } from './store.js';
import { mountAlertFeedView } from './views/alert-feed-view.js';
import { mountConnectionView } from './views/connection-view.js';
import { mountEngineView } from './views/engine-view.js';
import { mountLiveChartsView } from './views/live-charts-view.js';
import { mountQueueView } from './views/queue-view.js';
import { RunDetail } from './views/run-detail.js';
import { mountRunForm } from './views/run-form.js';
import { mountRunsView } from './views/runs-view.js';

/** @param {string} id */
function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`dashboard: #${id} is missing from the page`);
  return element;
}

const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
const store = new Store();
const connection = connect(url);
const follower = new LogFollower(connection);

mountConnectionView({ pill: byId('connection-pill'), banner: byId('connection-banner') }, connection, store);
const feed = startLiveFeed(connection, store);
mountRunForm(byId('start-card'), store, feed);
mountQueueView(byId('queue-card'), store);
mountEngineView(byId('engine-card'), byId('advice-card'), store);
mountLiveChartsView(byId('charts-card'), store);
mountRunsView(byId('runs-card'), store, new RunDetail(store, connection, follower));
mountAlertFeedView(byId('alerts-card'), store);
installDebugHook({ store, connection, follower });
