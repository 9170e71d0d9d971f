/**
 * `window.__bosun`: a read-mostly window into the page for tests and for a curious operator's
 * console — the store, the connection state and its history, chart sizes, the followed log —
 * and `reconnect()`, which closes the WebSocket the way a network failure would.
 */

/**
 * @param {{ store: import('./store.js').Store, connection: import('./connection.js').Connection,
 *   follower: import('./log-follower.js').LogFollower }} parts
 */
export function installDebugHook({ store, connection, follower }) {
  /** @type {{ status: string, at: number }[]} */
  const history = [];
  connection.onState((state) => {
    if (history.at(-1)?.status !== state.status) history.push({ status: state.status, at: Date.now() });
    if (history.length > 100) history.shift();
  });
  const hook = {
    store,
    /** Connection states seen, oldest first. */
    connectionHistory: history,
    connectionState: () => connection.state(),
    synced: () => store.synced,
    /** Closes the socket; the page reconnects and re-syncs by itself. Resolves once closed. */
    reconnect: () => connection.reconnect(),
    /** Samples held for a run (or container). */
    chartPoints: (key) => store.series.get(key)?.length ?? 0,
    /** The followed log: run id, last sequence number, subscriptions made, ended. */
    logState: () => ({ runId: follower.runId, lastSeq: follower.lastSeq, subscriptions: follower.subscriptions, ended: follower.ended }),
    /** The followed log's lines as received, `seq` and text. */
    logLines: () =>
      follower.entries.filter((entry) => !('gap' in entry)).map((entry) => ({ seq: entry.seq, line: entry.line, stream: entry.stream })),
  };
  Object.defineProperty(window, '__bosun', { value: Object.freeze(hook), configurable: false, enumerable: false });
}
