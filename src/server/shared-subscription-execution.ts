/**
 * Executes a subscription event once per distinct operation instead of once per subscriber.
 *
 * The services hand every listener the same event object (the queue's `status` event is one
 * QueueStats for all 1,000 `queueStatusChanged` streams). graphql-js executes the subscription's
 * selection set on each event for each subscriber; with many subscribers of one document that is
 * most of the fan-out's cost. Here each subscription still gets its own source stream (its own
 * bounded buffer, its own errors, its own end: `createSourceEventStream` runs the field's
 * `subscribe` with the subscriber's context and arguments), but the result of an event is
 * remembered with the event, keyed by everything that can make two results differ — the document,
 * the operation name, the variables and the caller's role — and handed to every subscription with
 * the same key. Results are never changed after they are made (error masking and graphql-ws make
 * new objects), so sharing them is safe.
 *
 * Only object events are shared (a WeakMap holds them, so a result lives as long as its event);
 * an event of one subscription alone (its first snapshot, a failure) simply finds no other taker.
 * So a producer that announces again what changed beside an unchanged object (an external run's
 * idleness, read live by a resolver) must emit a new object, or it is answered from the first.
 */
import { createSourceEventStream, execute, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { BosunContext } from '../api/context.js';

type MaybePromise<T> = T | Promise<T>;

/** The yoga plugin: subscriptions run through {@link SharedSubscriptionExecution}. */
export function useSharedSubscriptionExecution(shared = new SharedSubscriptionExecution()): Plugin<BosunContext> {
  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn((args: ExecutionArgs) => shared.subscribe(args));
    },
  };
}

export class SharedSubscriptionExecution {
  /** A small number per document: keys stay short, and a document is told apart by identity (yoga caches parsed documents). */
  readonly #documentIds = new WeakMap<DocumentNode, number>();
  #nextDocumentId = 0;
  /** Each event's results, by operation key. */
  readonly #results = new WeakMap<object, Map<string, MaybePromise<ExecutionResult>>>();
  #executions = 0;

  /** Executions of events so far (for tests: with N subscribers of one operation, one per event). */
  get executions(): number {
    return this.#executions;
  }

  /**
   * graphql-js `subscribe`, with each event's execution shared: resolves to the stream of results,
   * or to the result with the errors that kept the stream from starting.
   */
  subscribe(args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    const key = this.#operationKey(args);
    return createSourceEventStream(args).then((source) =>
      isAsyncIterable(source) ? mapEvents(source, (event) => this.#resultOf(event, key, args)) : source,
    );
  }

  #operationKey(args: ExecutionArgs): string {
    let documentId = this.#documentIds.get(args.document);
    if (documentId === undefined) {
      documentId = this.#nextDocumentId++;
      this.#documentIds.set(args.document, documentId);
    }
    const role = (args.contextValue as Partial<BosunContext> | undefined)?.caller?.role ?? '';
    return `${documentId}\u0000${args.operationName ?? ''}\u0000${role}\u0000${JSON.stringify(args.variableValues ?? null)}`;
  }

  #resultOf(event: unknown, key: string, args: ExecutionArgs): MaybePromise<ExecutionResult> {
    if (event === null || typeof event !== 'object') return this.#execute(event, args);
    let byKey = this.#results.get(event);
    if (byKey === undefined) {
      byKey = new Map();
      this.#results.set(event, byKey);
    }
    let result = byKey.get(key);
    if (result === undefined) {
      result = this.#execute(event, args);
      byKey.set(key, result);
    }
    return result;
  }

  #execute(event: unknown, args: ExecutionArgs): MaybePromise<ExecutionResult> {
    this.#executions += 1;
    // "ExecuteSubscriptionEvent": the operation's selection set on the event as its root value.
    return execute({ ...args, rootValue: event });
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** `source` with each event mapped; ending it (return/throw) ends the source. */
function mapEvents<T, R>(source: AsyncIterable<T>, map: (event: T) => MaybePromise<R>): AsyncIterableIterator<R> {
  const iterator = source[Symbol.asyncIterator]();
  const done = (): Promise<IteratorResult<R>> => Promise.resolve({ done: true, value: undefined });
  return {
    next: () =>
      iterator.next().then((item): MaybePromise<IteratorResult<R>> => {
        if (item.done === true) return { done: true, value: undefined };
        const mapped = map(item.value);
        // A shared result is usually ready: no extra turn for it.
        return mapped instanceof Promise ? mapped.then((value) => ({ done: false, value })) : { done: false, value: mapped };
      }),
    return: () => (iterator.return === undefined ? done() : iterator.return().then(() => ({ done: true, value: undefined }))),
    throw: (error: unknown) =>
      iterator.throw === undefined
        ? Promise.reject(error instanceof Error ? error : new Error(String(error)))
        : iterator.throw(error).then(() => ({ done: true, value: undefined })),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
