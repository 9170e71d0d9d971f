/**
 * The page's one graphql-ws connection, kept up for as long as the page is open.
 *
 * Each time the connection is acknowledged a new {@link Session} begins; every query and
 * subscription belongs to the session it was started in and is disposed when that connection
 * closes. graphql-ws would otherwise re-send the old subscriptions on its own after a reconnect,
 * with their old arguments (a log stream would then replay from its first sequence number); here
 * the live feed starts them again itself, from the state it has.
 */
import { createClient } from '../vendor/graphql-ws/client.js';
import { FORBIDDEN_CLOSE_CODE, authorizationHeaders, replaceRefusedToken, storedToken } from './auth.js';

/** The close code of a reconnect the page asks for (see {@link Connection.reconnect}). */
export const RECONNECT_CLOSE_CODE = 4000;

/**
 * @typedef {'connecting' | 'connected' | 'reconnecting'} ConnectionStatus
 * @typedef {{ status: ConnectionStatus, attempt: number, since: number, lastClose?: { code: number, reason: string } }} ConnectionState
 * @typedef {{ next?: (data: any) => void, error?: (errors: unknown) => void, complete?: () => void }} Observer
 */

/** The operations of one acknowledged connection; all end when it closes. */
export class Session {
  /** @param {import('../vendor/graphql-ws/client.js').Client} client @param {number} id */
  constructor(client, id) {
    this.client = client;
    this.id = id;
    this.disposed = false;
    /** @type {Set<() => void>} */
    this.disposers = new Set();
  }

  /**
   * Starts a subscription in this session. Its observer hears nothing once the subscription is
   * disposed (by the returned function or by the session's end).
   * @param {string} query
   * @param {Record<string, unknown>} variables
   * @param {Observer} observer
   * @returns {() => void} dispose
   */
  subscribe(query, variables, observer) {
    if (this.disposed) return () => {};
    let active = true;
    const stop = () => {
      if (!active) return;
      active = false;
      this.disposers.delete(stop);
      release();
    };
    const release = this.client.subscribe(
      { query, variables },
      {
        next: (result) => {
          if (!active) return;
          if (result.errors?.length) observer.error?.(result.errors);
          else observer.next?.(result.data);
        },
        error: (error) => {
          if (!active) return;
          active = false;
          this.disposers.delete(stop);
          observer.error?.(error);
        },
        complete: () => {
          if (!active) return;
          active = false;
          this.disposers.delete(stop);
          observer.complete?.();
        },
      },
    );
    this.disposers.add(stop);
    return stop;
  }

  /**
   * One query in this session.
   * @param {string} query
   * @param {Record<string, unknown>} [variables]
   * @returns {Promise<any>} its data; rejects with its errors, or when the connection closes first
   */
  query(query, variables = {}) {
    if (this.disposed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      let data;
      let settled = false;
      const settle = (finish) => {
        if (settled) return;
        settled = true;
        this.disposers.delete(onEnd);
        finish();
      };
      // A session that ends first rejects the query instead of leaving it pending.
      const onEnd = () => settle(() => reject(new Error('connection closed')));
      this.disposers.add(onEnd);
      this.subscribe(query, variables, {
        next: (value) => (data = value),
        error: (errors) => settle(() => reject(new OperationError(errors))),
        complete: () => settle(() => resolve(data)),
      });
    });
  }

  /** Ends every operation of the session. */
  dispose() {
    if (this.disposed) return;
    this.disposed = true;
    for (const dispose of [...this.disposers]) dispose();
    this.disposers.clear();
  }
}

/** GraphQL errors of one operation, as one Error. */
export class OperationError extends Error {
  /** @param {unknown} errors */
  constructor(errors) {
    const list = Array.isArray(errors) ? errors : [errors];
    super(list.map((error) => (error && typeof error === 'object' && 'message' in error ? error.message : String(error))).join('; '));
    this.name = 'OperationError';
    this.errors = list;
  }
}

/**
 * @typedef {object} Connection
 * @property {(listener: (session: Session) => void) => () => void} onSession called at every (re)connection
 * @property {(listener: (state: ConnectionState) => void) => () => void} onState called at every state change
 * @property {() => ConnectionState} state
 * @property {() => Session | null} session the current session, if connected
 * @property {() => Promise<void>} reconnect closes the socket as a network failure would; resolves once it is closed
 * @property {() => void} close
 */

/**
 * Opens the connection to `url` and keeps it open: it retries forever, with a backoff from
 * 300 ms up to 5 s, whatever closed it.
 * @param {string} url ws:// or wss:// URL of the GraphQL endpoint
 * @returns {Connection}
 */
export function connect(url) {
  /** @type {Set<(session: Session) => void>} */
  const sessionListeners = new Set();
  /** @type {Set<(state: ConnectionState) => void>} */
  const stateListeners = new Set();
  /** @type {ConnectionState} */
  let state = { status: 'connecting', attempt: 0, since: Date.now() };
  /** @type {Session | null} */
  let session = null;
  /** @type {WebSocket | null} */
  let socket = null;
  let sessions = 0;
  /** @type {Set<() => void>} */
  let closedWaiters = new Set();
  let client = null;
  let stopped = false;

  const setState = (next) => {
    state = { ...state, ...next };
    for (const listener of [...stateListeners]) listener(state);
  };

  const start = () => {
    client = createClient({
      url,
      lazy: false,
      // Read at every (re)connection, so a token entered after a refusal is used at once.
      connectionParams: () => authorizationHeaders(),
      retryAttempts: Infinity,
      shouldRetry: () => true,
      keepAlive: 10_000,
      retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 300 * 2 ** retries) + Math.random() * 200)),
      // graphql-ws gives up only on close codes it deems fatal; start over with a new client.
      onNonLazyError: (error) => {
        setState({ status: 'reconnecting', lastClose: { code: error?.code ?? 0, reason: String(error?.reason ?? error?.message ?? error) } });
        const old = client;
        client = null;
        void old?.dispose();
        if (!stopped) setTimeout(start, 2_000);
      },
      on: {
        connecting: (isRetry) => setState({ status: isRetry ? 'reconnecting' : state.status, attempt: state.attempt + 1 }),
        connected: (opened) => {
          socket = /** @type {WebSocket} */ (opened);
          session = new Session(client, ++sessions);
          setState({ status: 'connected', attempt: 0, since: Date.now() });
          for (const listener of [...sessionListeners]) listener(session);
        },
        closed: (event) => {
          const ended = session;
          session = null;
          socket = null;
          ended?.dispose();
          const { code = 0, reason = '' } = /** @type {CloseEvent} */ (event ?? {});
          if (code === FORBIDDEN_CLOSE_CODE) replaceRefusedToken(storedToken());
          if (!stopped) setState({ status: 'reconnecting', since: Date.now(), lastClose: { code, reason: String(reason) } });
          const waiters = closedWaiters;
          closedWaiters = new Set();
          for (const waiter of waiters) waiter();
        },
      },
    });
  };
  start();

  return {
    onSession(listener) {
      sessionListeners.add(listener);
      if (session) listener(session);
      return () => sessionListeners.delete(listener);
    },
    onState(listener) {
      stateListeners.add(listener);
      listener(state);
      return () => stateListeners.delete(listener);
    },
    state: () => state,
    session: () => session,
    reconnect() {
      if (!socket) return Promise.resolve();
      const closed = new Promise((resolve) => closedWaiters.add(resolve));
      socket.close(RECONNECT_CLOSE_CODE, 'dashboard: reconnect requested');
      return closed;
    },
    close() {
      stopped = true;
      void client?.dispose();
    },
  };
}
