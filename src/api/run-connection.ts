/**
 * Runs page by page, in the GraphQL Cursor Connections style (Relay's): `Query.runs` and
 * `FailureGroup.runs` answer an `AgentRunConnection` whose edges hold a run and an opaque cursor;
 * `after: <cursor>` continues below that run. Cursors name a run's place in the order runs were
 * recorded (the store's key, see KeyedRun), so a page after a cursor is the same however many
 * runs start meanwhile, and a cursor stays valid after its run is pruned.
 */
import { BosunError, describeValue } from '../errors.js';
import type { RunQueryFilter } from '../runs/run-service.js';
import type { KeyedRun } from '../runs/run-store.js';
import { optionalInteger } from './arguments.js';
import type { BosunBuilder } from './builder.js';
import type { BosunServices } from './context.js';
import type { RunRefs } from './runs.js';

/** `first`: default and bounds (the same as `agentRuns(limit)`). */
export const CONNECTION_DEFAULT_FIRST = 50;
export const CONNECTION_MAX_FIRST = 500;

const CURSOR_PREFIX = 'run:';
/** Base64 as Buffer writes it: what a cursor bosun gave out looks like. */
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The opaque cursor of the run with store key `key`. */
export function runCursor(key: number): string {
  return Buffer.from(`${CURSOR_PREFIX}${key}`).toString('base64');
}

/**
 * The store key a cursor names.
 * @throws BosunError BAD_USER_INPUT naming `argument` for anything bosun did not give out as a cursor.
 */
export function parseRunCursor(argument: string, cursor: string): number {
  const text = BASE64.test(cursor) ? Buffer.from(cursor, 'base64').toString('utf8') : '';
  const key = text.startsWith(CURSOR_PREFIX) ? Number(text.slice(CURSOR_PREFIX.length)) : Number.NaN;
  // Only the exact form bosun writes: no padding games, signs, exponents or leading zeros.
  if (!Number.isSafeInteger(key) || key < 1 || runCursor(key) !== cursor) {
    throw new BosunError(
      'BAD_USER_INPUT',
      `${argument}: expected a cursor from a runs connection (an edge's cursor or endCursor), got ${describeValue(cursor)}`,
      {
        field: argument,
      },
    );
  }
  return key;
}

/** `first` of a connection: 0..500, default 50. @throws BosunError BAD_USER_INPUT */
export function connectionFirst(value: number | null | undefined): number {
  return optionalInteger('first', value, { min: 0, max: CONNECTION_MAX_FIRST }) ?? CONNECTION_DEFAULT_FIRST;
}

/** What an `AgentRunConnection` resolves from: one page, and how to count every run it pages through. */
export interface RunConnection {
  readonly edges: readonly KeyedRun[];
  readonly hasNextPage: boolean;
  readonly hasPreviousPage: boolean;
  readonly filter: RunQueryFilter;
}

export interface RunConnectionArgs {
  readonly first?: number | null;
  readonly after?: string | null;
}

/**
 * The page of runs matching `filter` that `args` asks for, newest first.
 * @throws BosunError BAD_USER_INPUT for a `first` out of 0..500 or a cursor bosun did not give out.
 */
export async function runConnection(services: Pick<BosunServices, 'runs'>, filter: RunQueryFilter, args: RunConnectionArgs): Promise<RunConnection> {
  const first = connectionFirst(args.first);
  const olderThan = args.after == null ? null : parseRunCursor('after', args.after);
  const page = await services.runs.page({ ...filter, first, olderThan });
  return { edges: page.runs, hasNextPage: page.hasNextPage, hasPreviousPage: page.hasPreviousPage, filter };
}

/** Registers the connection types and `Query.runs`. @returns the connection type, for `FailureGroup.runs`. */
export function addRunConnection(builder: BosunBuilder, { AgentStatus }: Pick<RunRefs, 'AgentStatus'>) {
  const PageInfo = builder.objectRef<RunConnection>('PageInfo').implement({
    description: 'Where a page stands in the whole list (GraphQL Cursor Connections).',
    fields: (t) => ({
      hasNextPage: t.exposeBoolean('hasNextPage', { description: 'More items follow: ask again with `after: endCursor`.' }),
      hasPreviousPage: t.exposeBoolean('hasPreviousPage', {
        description: 'Items come before this page: newer runs than the `after` cursor (false for a first page).',
      }),
      startCursor: t.string({
        nullable: true,
        description: "The first edge's cursor; null for an empty page.",
        resolve: (connection) => (connection.edges[0] ? runCursor(connection.edges[0].key) : null),
      }),
      endCursor: t.string({
        nullable: true,
        description: "The last edge's cursor, to continue with `after`; null for an empty page.",
        resolve: (connection) => {
          const last = connection.edges.at(-1);
          return last ? runCursor(last.key) : null;
        },
      }),
    }),
  });

  const AgentRunEdge = builder.objectRef<KeyedRun>('AgentRunEdge').implement({
    description: 'A run in a page, with its cursor.',
    fields: (t) => ({
      cursor: t.string({
        description: 'Opaque: pass it as `after` to continue below this run. It stays valid while runs are added, and after its run is pruned.',
        resolve: (edge) => runCursor(edge.key),
      }),
      node: t.field({ type: 'AgentRun', description: 'The run.', resolve: (edge) => edge.run }),
    }),
  });

  const AgentRunConnection = builder.objectRef<RunConnection>('AgentRunConnection').implement({
    description:
      'A page of runs, newest first (GraphQL Cursor Connections). Pages after a cursor neither skip nor repeat a run while new runs are added.',
    fields: (t) => ({
      edges: t.field({ type: [AgentRunEdge], description: 'The runs of this page, newest first.', resolve: (connection) => connection.edges }),
      pageInfo: t.field({ type: PageInfo, description: 'Whether more runs follow, and the cursors to go on.', resolve: (connection) => connection }),
      totalCount: t.int({
        description: 'How many runs the whole list holds (every page), now.',
        resolve: (connection, _args, ctx) => ctx.services.runs.count(connection.filter),
      }),
    }),
  });

  builder.queryFields((t) => ({
    runs: t.field({
      type: AgentRunConnection,
      description:
        'Runs newest first, page by page: `first` (0..500, default 50) after the cursor `after`; of the given statuses if any, ' +
        'of one failure group if `groupId` is given. Unlike `agentRuns`, every run can be reached.',
      args: {
        first: t.arg.int({ description: 'How many runs at most: 0..500, default 50.' }),
        after: t.arg.string({ description: "A cursor from an earlier page (an edge's `cursor` or `pageInfo.endCursor`): the runs older than it." }),
        status: t.arg({ type: [AgentStatus], description: 'Only runs with one of these statuses; all when absent or empty.' }),
        groupId: t.arg.string({ description: "Only the runs of this failure group (the `id` of startAgent's `group`)." }),
      },
      resolve: (_root, args, ctx) => runConnection(ctx.services, { status: args.status ?? null, groupId: args.groupId ?? null }, args),
    }),
  }));

  return { AgentRunConnection };
}

export type RunConnectionRefs = ReturnType<typeof addRunConnection>;
