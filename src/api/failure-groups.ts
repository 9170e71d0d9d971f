/**
 * Failure groups in the API, as entities keyed by their id: the client names a group of failing
 * CI runs by an id of its own in each startAgent, and every run of that id shows the same group,
 * with the name given last and every CI run id given (the store keeps them, see
 * src/store/failure-groups.ts). A normalising client cache (Apollo Client's, urql's Graphcache)
 * stores `FailureGroup:<id>` once, so two runs of one group can no longer disagree about it.
 */
import type { AgentRun, FailureGroup } from '../runs/agent-run.js';
import type { BosunBuilder } from './builder.js';
import type { BosunServices } from './context.js';
import { runConnection, type RunConnectionRefs } from './run-connection.js';

/** The group of `run` as an entity; the run's own copy when the store has none (a run from before groups were kept). */
export async function runGroup(services: Pick<BosunServices, 'runs'>, run: AgentRun): Promise<FailureGroup> {
  return (await services.runs.group(run.group.id)) ?? run.group;
}

/** Registers `FailureGroup`, `Query.failureGroup` and `FailureGroup.runs`. */
export function addFailureGroups(builder: BosunBuilder, { AgentRunConnection }: RunConnectionRefs): void {
  builder.objectType('FailureGroup', {
    description:
      'A group of failing CI runs that agents work on, identified by the id the client gives it in startAgent. ' +
      'Every run of the group shows the same group: the name given last, and every CI run id given.',
    fields: (t) => ({
      id: t.exposeString('id', { description: "The client's id for the group; the same for every run of the group." }),
      name: t.exposeString('name', { description: 'The name given by the newest run of the group.' }),
      runIds: t.exposeStringList('runIds', {
        description: "The failing CI runs' ids, every one any run of the group was given, in the order first given.",
      }),
      runs: t.field({
        type: AgentRunConnection,
        description: "The group's agent runs, newest first, page by page (see Query.runs).",
        args: {
          first: t.arg.int({ description: 'How many runs at most: 0..500, default 50.' }),
          after: t.arg.string({ description: "A cursor from an earlier page (an edge's `cursor` or `pageInfo.endCursor`): the runs older than it." }),
        },
        resolve: (group, args, ctx) => runConnection(ctx.services, { groupId: group.id }, args),
      }),
    }),
  });

  builder.queryFields((t) => ({
    failureGroup: t.field({
      type: 'FailureGroup',
      nullable: true,
      description: 'The failure group with this id; null when no run (still kept) names it.',
      args: { id: t.arg.string({ required: true, description: "The group's id, as given in startAgent's `group.id`." }) },
      resolve: async (_root, args, ctx) => (await ctx.services.runs.group(args.id)) ?? null,
    }),
  }));
}
