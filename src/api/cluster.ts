/**
 * The cluster's view in the API (issue 17): `healthReport.nodes`, each node of the roll as its
 * last heartbeat left it, and `concurrencyAdvice.cluster`, what the cluster as a whole can take.
 * Both answer from the shared store, so every node answers the same; embedded (one node is all
 * there is), `nodes` is empty and `cluster` null.
 */
import type { ClusterConcurrencyAdvice } from '../cluster/cluster-node.js';
import type { NodeContainerSummary, NodeHealth } from '../cluster/node-registry.js';
import type { BosunBuilder } from './builder.js';

/** Registers the node types and the cluster's fields of HealthReport and ConcurrencyAdvice on `builder`. */
export function addCluster(builder: BosunBuilder): void {
  const NodeContainers = builder.objectRef<NodeContainerSummary>('NodeContainers').implement({
    description: "A node's containers by health level, as of its last heartbeat.",
    fields: (t) => ({
      total: t.exposeInt('total', { description: 'Containers its monitor watches.' }),
      healthy: t.exposeInt('healthy', { description: 'HEALTHY ones.' }),
      warning: t.exposeInt('warning', { description: 'WARNING ones.' }),
      critical: t.exposeInt('critical', { description: 'CRITICAL ones.' }),
    }),
  });

  const NodeHealthRef = builder.objectRef<NodeHealth>('NodeHealth').implement({
    description:
      "One bosun node of the cluster, as its last heartbeat (every third of NODE_LEASE_MS) left it. Times are the database server's clock.",
    fields: (t) => ({
      name: t.exposeString('name', { description: 'BOSUN_NODE_NAME.' }),
      instanceId: t.exposeString('instanceId', { description: 'The `bosun.instance` label of its containers.' }),
      url: t.exposeString('url', {
        nullable: true,
        description: 'BOSUN_NODE_URL, where the other nodes send calls on its runs; null when it has none (they refuse such calls).',
      }),
      reachable: t.exposeBoolean('reachable', {
        description:
          'It renewed its lease within NODE_LEASE_MS and did not stop. An unreachable node that did not stop has its running runs interrupted.',
      }),
      running: t.exposeInt('running', { description: 'Runs running on it.' }),
      capacity: t.exposeInt('capacity', { description: 'Its own limit (NODE_MAX_CONCURRENT_AGENTS); 0 = none of its own.' }),
      engineVersion: t.exposeString('engineVersion', {
        nullable: true,
        description: "Its Docker engine's version when it joined; null if the engine did not answer.",
      }),
      containers: t.field({ type: NodeContainers, description: "Its containers' health.", resolve: (node) => node.containers }),
      recommendedConcurrency: t.exposeInt('recommendedConcurrency', {
        nullable: true,
        description: 'Its own concurrency advice (1 to 4, see ConcurrencyAdvice); null before its first health check.',
      }),
      startedAt: t.expose('startedAt', { type: 'DateTime', description: 'When it joined.' }),
      lastSeenAt: t.expose('lastSeenAt', { type: 'DateTime', description: 'Its last heartbeat.' }),
      stoppedAt: t.expose('stoppedAt', {
        type: 'DateTime',
        nullable: true,
        description: 'When it stopped gracefully; null while it runs or if it died.',
      }),
    }),
  });

  const ClusterAdvice = builder.objectRef<ClusterConcurrencyAdvice>('ClusterConcurrencyAdvice').implement({
    description: "How many runs the whole cluster can take at once: each reachable node's own advice, within its own limit, added up.",
    fields: (t) => ({
      current: t.exposeInt('current', { description: 'The cluster-wide limit now (MAX_CONCURRENT_AGENTS, setMaxConcurrency); 0 = unlimited.' }),
      recommended: t.exposeInt('recommended', {
        description:
          "The sum over reachable nodes of min(the node's advice, its NODE_MAX_CONCURRENT_AGENTS); a node that has not advised yet counts 1. At least 1.",
      }),
      canIncrease: t.exposeBoolean('canIncrease', { description: 'recommended > current (never when current is 0, unlimited).' }),
      reason: t.exposeString('reason', { description: "Each node's share, in one sentence for people." }),
    }),
  });

  builder.objectField('HealthReport', 'nodes', (t) =>
    t.field({
      type: [NodeHealthRef],
      description: 'Cluster mode: every node of the roll by name, reachable or not (those that stopped too); empty for an embedded bosun.',
      resolve: async (_report, _args, ctx) => (ctx.services.cluster ? ctx.services.cluster.nodes() : []),
    }),
  );

  builder.objectField('ConcurrencyAdvice', 'cluster', (t) =>
    t.field({
      type: ClusterAdvice,
      nullable: true,
      description: "Cluster mode: the whole cluster's advice (the fields above are this node's, for its own containers); null for an embedded bosun.",
      resolve: (_advice, _args, ctx) => ctx.services.cluster?.advice() ?? null,
    }),
  );
}
