/**
 * The connection's state, where it is always visible: a pill in the top bar, and a banner while
 * the page is not live (connecting, reconnecting, or re-reading the state after a reconnect).
 */
import { setModifier, setText } from '../dom.js';

/**
 * @param {{ pill: HTMLElement, banner: HTMLElement }} elements
 * @param {import('../connection.js').Connection} connection
 * @param {import('../store.js').Store} store
 */
export function mountConnectionView({ pill, banner }, connection, store) {
  const render = () => {
    const { status, attempt } = connection.state();
    const live = status === 'connected' && store.synced;
    const text = live ? 'live' : status === 'connected' ? 'syncing…' : status === 'connecting' ? 'connecting…' : 'reconnecting…';
    setText(pill, text);
    setModifier(pill, 'conn-', live ? 'live' : status === 'reconnecting' ? 'lost' : 'wait');
    banner.hidden = live;
    banner.dataset.state = live ? 'live' : status;
    setText(
      banner,
      status === 'reconnecting'
        ? `Connection to bosun lost — reconnecting…${attempt > 1 ? ` (attempt ${attempt})` : ''} The page resumes where it left off.`
        : status === 'connecting'
          ? 'Connecting to bosun…'
          : 'Reconnected — catching up…',
    );
  };
  connection.onState(render);
  store.on('sync', render);
  render();
}
