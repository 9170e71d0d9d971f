import { EventEmitter } from 'node:events';
import { GraphQLInt, GraphQLObjectType, GraphQLSchema, GraphQLString, parse, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import { EventChannel, unwrapStreamItem } from '../../src/api/streams/event-channel.js';
import { SharedSubscriptionExecution } from '../../src/server/shared-subscription-execution.js';

interface Tick {
  readonly value: number;
}

/** A schema whose `ticks` subscription follows one emitter; `Tick.scaled` counts its own executions. */
function setup() {
  const emitter = new EventEmitter<{ tick: [Tick]; count: [number] }>();
  emitter.setMaxListeners(0);
  const channels: EventChannel<Tick>[] = [];
  let resolved = 0;
  const Tick = new GraphQLObjectType<Tick>({
    name: 'Tick',
    fields: {
      value: { type: GraphQLInt },
      scaled: {
        type: GraphQLInt,
        args: { by: { type: GraphQLInt } },
        resolve: (tick, args: { by?: number | null }) => {
          resolved += 1;
          return tick.value * (args.by ?? 1);
        },
      },
      role: { type: GraphQLString, resolve: (_tick, _args, context: { caller?: { role: string } }) => context.caller?.role ?? null },
    },
  });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLInt, resolve: () => 1 } } }),
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: {
        ticks: {
          type: Tick,
          subscribe: () => {
            const channel = new EventChannel<Tick>({ capacity: 16, overflow: 'drop-oldest' });
            channel.listen(emitter, 'tick', (tick) => channel.push(tick));
            channels.push(channel);
            return channel;
          },
          resolve: unwrapStreamItem,
        },
        counts: {
          type: GraphQLInt,
          subscribe: () => {
            const channel = new EventChannel<number>({ capacity: 16, overflow: 'drop-oldest' });
            channel.listen(emitter, 'count', (count) => channel.push(count));
            return channel;
          },
          resolve: unwrapStreamItem,
        },
      },
    }),
  });
  const shared = new SharedSubscriptionExecution();
  const subscribe = async (query: string, options: { variables?: Record<string, unknown>; role?: string } = {}) => {
    const args: ExecutionArgs = {
      schema,
      document: documents.get(query) ?? documents.set(query, parse(query)).get(query)!,
      variableValues: options.variables ?? null,
      contextValue: { caller: { role: options.role ?? 'admin', key: 'k' } },
    };
    const result = await shared.subscribe(args);
    if (!(Symbol.asyncIterator in result)) throw new Error(`not a stream: ${JSON.stringify(result)}`);
    return result;
  };
  const documents = new Map<string, ReturnType<typeof parse>>();
  return { schema, emitter, channels, shared, subscribe, resolved: () => resolved };
}

const QUERY = 'subscription ($by: Int) { ticks { value scaled(by: $by) } }';

async function next(stream: AsyncIterableIterator<ExecutionResult>): Promise<ExecutionResult> {
  const item = await stream.next();
  if (item.done === true) throw new Error('the stream ended');
  return item.value;
}

describe('SharedSubscriptionExecution', () => {
  it('executes an event once for 100 subscribers of one document and hands each the same result', async () => {
    const { emitter, shared, subscribe, resolved } = setup();
    const streams = await Promise.all(Array.from({ length: 100 }, () => subscribe(QUERY, { variables: { by: 2 } })));
    emitter.emit('tick', { value: 21 });
    const results = await Promise.all(streams.map(next));
    expect(results[0]).toEqual({ data: { ticks: { value: 21, scaled: 42 } } });
    expect(new Set(results).size).toBe(1);
    expect(shared.executions).toBe(1);
    expect(resolved()).toBe(1);
    emitter.emit('tick', { value: 1 });
    await Promise.all(streams.map(next));
    expect(shared.executions).toBe(2);
  });

  it('executes separately for other variables, another operation, and another role', async () => {
    const { emitter, shared, subscribe } = setup();
    const byTwo = await subscribe(QUERY, { variables: { by: 2 } });
    const byThree = await subscribe(QUERY, { variables: { by: 3 } });
    const other = await subscribe('subscription { ticks { value } }');
    const admin = await subscribe('subscription { ticks { role } }', { role: 'admin' });
    const reader = await subscribe('subscription { ticks { role } }', { role: 'read' });
    emitter.emit('tick', { value: 5 });
    expect(await next(byTwo)).toEqual({ data: { ticks: { value: 5, scaled: 10 } } });
    expect(await next(byThree)).toEqual({ data: { ticks: { value: 5, scaled: 15 } } });
    expect(await next(other)).toEqual({ data: { ticks: { value: 5 } } });
    expect(await next(admin)).toEqual({ data: { ticks: { role: 'admin' } } });
    expect(await next(reader)).toEqual({ data: { ticks: { role: 'read' } } });
    expect(shared.executions).toBe(5);
  });

  it('keeps each subscription’s own events and errors its own', async () => {
    const { emitter, channels, subscribe } = setup();
    const [first, second] = [await subscribe(QUERY), await subscribe(QUERY)];
    channels[0]!.push({ value: 7 });
    channels[1]!.fail(new Error('this one fell behind'));
    expect(await next(first)).toEqual({ data: { ticks: { value: 7, scaled: 7 } } });
    const failed = await next(second);
    expect(failed.data).toEqual({ ticks: null });
    expect(failed.errors?.map((error) => error.message)).toEqual(['this one fell behind']);
    emitter.emit('tick', { value: 8 });
    expect(await next(first)).toEqual({ data: { ticks: { value: 8, scaled: 8 } } });
    expect((await second.next()).done).toBe(true);
  });

  it('ends the source stream when the subscriber ends', async () => {
    const { emitter, channels, subscribe } = setup();
    const stream = await subscribe(QUERY);
    await stream.return?.();
    expect(channels[0]!.isClosed).toBe(true);
    expect(emitter.listenerCount('tick')).toBe(0);
  });

  it('answers with the errors that keep a stream from starting, opening no stream', async () => {
    const { schema, channels, shared } = setup();
    const result = await shared.subscribe({ schema, document: parse(QUERY), variableValues: { by: 'two' } });
    expect(Symbol.asyncIterator in result).toBe(false);
    expect((result as ExecutionResult).errors?.[0]?.message).toMatch(/Variable "\$by" got invalid value "two"/);
    expect(channels).toHaveLength(0);
  });

  it('executes primitive events for each subscriber (nothing to keep a result with)', async () => {
    const { emitter, shared, subscribe } = setup();
    const streams = [await subscribe('subscription { counts }'), await subscribe('subscription { counts }')];
    emitter.emit('count', 3);
    expect(await Promise.all(streams.map(next))).toEqual([{ data: { counts: 3 } }, { data: { counts: 3 } }]);
    expect(shared.executions).toBe(2);
  });
});
