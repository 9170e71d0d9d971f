/**
 * Helpers for end-to-end tests against the whole service (see start-app.ts): GraphQL calls that
 * fail loudly on errors, starting runs, waiting for a run's status, a container to appear or
 * go, and reading a subscription to its end — each with a deadline so a missing event fails the
 * test instead of hanging it.
 */
import type Docker from 'dockerode';
import type { FormattedExecutionResult } from 'graphql-ws';
import { containersOf } from './docker.js';
import { postGraphQL, sseEvents, within, type GraphQLResponse } from './graphql-clients.js';
import type { TestApp } from './start-app.js';

/** A result of a subscription (graphql-ws or SSE); `T` is the shape of its data. */
export type Result<T = Record<string, unknown>> = FormattedExecutionResult<T, unknown>;

export const FINAL_STATUSES = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT'] as const;

/** Posts an operation and returns its data (of the shape the caller selected); throws with the errors when there are any. */
export async function gql<T = Record<string, unknown>>(url: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const { status, body } = await postGraphQL<T>(url, query, variables);
  if (status !== 200 || body.errors !== undefined || body.data == null) {
    throw new Error(`GraphQL call failed (HTTP ${status}): ${JSON.stringify(body.errors ?? body)}`);
  }
  return body.data;
}

/** Posts an operation that is expected to fail; returns its errors (throws if there are none). */
export async function gqlErrors(url: string, query: string, variables?: Record<string, unknown>): Promise<NonNullable<GraphQLResponse['errors']>> {
  const { body } = await postGraphQL(url, query, variables);
  if (body.errors === undefined || body.errors.length === 0) {
    throw new Error(`expected GraphQL errors, got ${JSON.stringify(body)}`);
  }
  return body.errors;
}

export const START_AGENT = /* GraphQL */ `
  mutation Start($input: StartAgentInput!) {
    startAgent(input: $input) {
      agentId
      status
      queue {
        position
        running
        queued
        maxConcurrency
      }
    }
  }
`;

export interface StartedRun {
  readonly agentId: string;
  readonly status: string;
  readonly queue: { position: number; running: number; queued: number; maxConcurrency: number };
}

export function startInput(config: Record<string, unknown>, group = { id: 'g-e2e', name: 'e2e' }): Record<string, unknown> {
  return { group, config };
}

/** Starts a run with `config` (AgentConfigInput) and returns the payload. */
export async function startRun(url: string, config: Record<string, unknown>): Promise<StartedRun> {
  const data = await gql<{ startAgent: StartedRun }>(url, START_AGENT, { input: startInput(config) });
  return data.startAgent;
}

/** Polls `probe` until it returns something other than undefined, which it returns. */
export async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await pause(100);
  }
}

/** The fields of a run that waitForRun selects by default. */
export interface RunState {
  readonly id: string;
  readonly status: string;
  readonly failureReason: string | null;
  readonly error: string | null;
  readonly exitCode: number | null;
  readonly containerId: string | null;
}

/**
 * Polls `agentRun(id)` until `accept(run)`; returns the run's status and the fields named in
 * `selection`. A caller that selects other fields than the default names their shape as `R`.
 */
export async function waitForRun<R extends { readonly status: string } = RunState>(
  url: string,
  agentId: string,
  accept: (run: R) => boolean,
  what: string,
  ms = 20_000,
  selection = 'id status failureReason error exitCode containerId',
): Promise<R> {
  const deadline = Date.now() + ms;
  for (;;) {
    const { agentRun } = await gql<{ agentRun: R | null }>(url, `query ($id: ID!) { agentRun(id: $id) { status ${selection} } }`, {
      id: agentId,
    });
    if (agentRun && accept(agentRun)) return agentRun;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what} (last: ${JSON.stringify(agentRun)})`);
    await pause(50);
  }
}

export function waitForFinal<R extends { readonly status: string } = RunState>(
  url: string,
  agentId: string,
  ms = 20_000,
  selection?: string,
): Promise<R> {
  return waitForRun<R>(url, agentId, (run) => (FINAL_STATUSES as readonly string[]).includes(run.status), `run ${agentId} is final`, ms, selection);
}

/** Waits until the run's container (label bosun.agent=<agentId>) exists; returns its id. */
export async function waitForContainer(docker: Docker, app: TestApp, agentId: string, ms = 15_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ids = await containersOf(docker, app.app.instanceId, agentId);
    if (ids.length === 1) return ids[0]!;
    if (ids.length > 1) throw new Error(`run ${agentId} has ${ids.length} containers`);
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for the container of run ${agentId}`);
    await pause(50);
  }
}

/** Reads a graphql-ws iterator until it completes; each result must come within `perResultMs`. */
export async function readToEnd<T>(iterator: AsyncIterator<Result<T>>, what: string, perResultMs = 15_000): Promise<Result<T>[]> {
  const results: Result<T>[] = [];
  for (;;) {
    const next = await within(iterator.next(), `${what} (after ${results.length} results)`, perResultMs);
    if (next.done) return results;
    results.push(next.value);
  }
}

/** The next result of a graphql-ws iterator, with a deadline; fails if the stream completed. */
export async function nextValue<T>(iterator: AsyncIterator<Result<T>>, what: string, ms = 15_000): Promise<Result<T>> {
  const next = await within(iterator.next(), what, ms);
  if (next.done) throw new Error(`the stream completed while waiting for ${what}`);
  return next.value;
}

/** A GraphQL-over-SSE subscription read as `next` payloads until `complete`. */
export function sseSubscription<T = Record<string, unknown>>(url: string, query: string, variables?: Record<string, unknown>) {
  const abort = new AbortController();
  const events = sseEvents(url, query, variables, abort.signal);
  return {
    /** The next `next` payload, or `undefined` once the server sent `complete`. */
    async next(what: string, ms = 15_000): Promise<Result<T> | undefined> {
      const step = await within(events.next(), what, ms);
      if (step.done || step.value.event === 'complete') return undefined;
      if (step.value.event !== 'next') throw new Error(`unexpected SSE event ${step.value.event}: ${step.value.data}`);
      return JSON.parse(step.value.data) as Result<T>;
    },
    close(): void {
      abort.abort();
      void events.return(undefined).catch(() => undefined);
    },
  };
}

/** Reads /metrics as text. */
export async function readMetrics(app: TestApp): Promise<string> {
  const response = await fetch(`${app.origin}/metrics`);
  if (response.status !== 200) throw new Error(`/metrics answered HTTP ${response.status}`);
  return response.text();
}

/** A sample's value in Prometheus text (`name{labels} value`), or undefined when absent. */
export function metricValue(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Reads a graphql-ws iterator in the background into `results` until it completes or `stop()` is
 * called; `ended` resolves when reading stops, and rejects if the stream failed.
 */
export function collect<T>(iterator: AsyncIterator<Result<T>>): { results: Result<T>[]; ended: Promise<void>; stop(): Promise<void> } {
  const results: Result<T>[] = [];
  const ended = (async () => {
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      results.push(next.value);
    }
  })();
  ended.catch(() => undefined);
  return {
    results,
    ended,
    async stop() {
      await iterator.return?.();
      await ended.catch(() => undefined);
    },
  };
}

/** `values` without consecutive repeats (by JSON). */
export function collapse<T>(values: readonly T[]): T[] {
  return values.filter((value, index) => index === 0 || JSON.stringify(value) !== JSON.stringify(values[index - 1]));
}
