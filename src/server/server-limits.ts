/**
 * The fixed limits on what a client may send or make bosun hold. The ones an operator tunes
 * (MAX_WS_CONNECTIONS, MAX_PENDING_WS_PER_ADDRESS, START_RATE_PER_MINUTE) are in src/config.ts; these protect the process
 * itself and are not meant to be changed per deployment.
 */

const MiB = 1024 * 1024;

/** Request bodies over this are refused with HTTP 413 before they are parsed. */
export const MAX_REQUEST_BYTES = MiB;

/** WebSocket messages over this close the connection (1009, Message Too Big). */
export const WS_MAX_PAYLOAD_BYTES = MiB;

/**
 * A socket with more than this waiting to be sent is not sent more: its operations wait, so
 * their streams buffer, and `resourceSamples` keeps only the newest sample per container.
 */
export const WS_SOFT_BUFFER_BYTES = MiB;

/** A socket with more than this waiting to be sent is closed (1013, "subscriber too slow"). */
export const WS_HARD_BUFFER_BYTES = 8 * MiB;

/** The close code and reason of a socket past {@link WS_HARD_BUFFER_BYTES} (1013: Try Again Later). */
export const WS_TOO_SLOW_CLOSE = { code: 1013, reason: 'subscriber too slow' } as const;

/** Operations (subscriptions and in-flight queries) open at once on one WebSocket. */
export const MAX_OPERATIONS_PER_SOCKET = 100;

/**
 * The limits on every operation, over HTTP and graphql-ws (graphql-armor's, and bosun's cost).
 * The cost (query-cost.ts) is about how many values the result can hold: list sizes (`limit`,
 * `last`, or a list's default size) multiplied through nesting. A run's whole log,
 * `agentRun { logs { seq line } }`, costs 20,002; `agentRuns(limit: 100) { logs { seq line } }`
 * about 2,000,000; `agentRuns(limit: 500) { logs { line } }`, 5,000,501, is refused (20 aliases
 * of it stalled bosun for 12 s). bosun's own clients stay below: the dashboard's snapshot query
 * (depth 8, 1 alias, 189 tokens) costs about 2,720,000 with its variables (the last 600 samples
 * of up to 500 running runs), its other operations under 10,000; GraphiQL's example 8
 * (introspection is not counted).
 */
export const QUERY_LIMITS = {
  maxDepth: 12,
  maxAliases: 20,
  maxDirectives: 20,
  maxTokens: 2_000,
  maxCost: 4_000_000,
} as const;

/**
 * How long a new WebSocket may take to send `connection_init` (graphql-ws's
 * `connectionInitWaitTimeout`); then it is closed with 4408. Until then it holds a pending slot.
 */
export const WS_INIT_TIMEOUT_MS = 3_000;

/**
 * How long a WebSocket that bosun closes may take to answer the close handshake before it is cut
 * (ws alone would wait 30 s, and the socket would hold its slot that long).
 */
export const WS_CLOSE_GRACE_MS = 1_000;

/** The close of a socket whose `connection_init` came when every streaming slot was taken (1013: Try Again Later). */
export const WS_STREAMS_FULL_CLOSE = { code: 1013, reason: 'too many streaming connections; try again later' } as const;

/**
 * An SSE response with more than this waiting to be sent (in the response and its socket) is
 * ended: its client does not read. Yoga writes an SSE stream with backpressure, so only one result
 * bigger than this gets there; the bound holds whatever the writer does.
 */
export const SSE_HARD_BUFFER_BYTES = WS_HARD_BUFFER_BYTES;
