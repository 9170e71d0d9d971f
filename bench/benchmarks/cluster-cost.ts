/**
 * 12. What cluster mode costs a run (issue #17): `startAgent` → RUNNING on one cluster node (BullMQ
 * on Redis, PostgreSQL; a fresh pair on loopback) against an embedded bosun (SQLite in a file, as
 * `npm start` keeps it, and the in-process queue), both running the whole time, same image, same
 * limits, MAX_CONCURRENT_AGENTS 1, warm pool off. Per iteration one `true` run on each, the order
 * alternating; each timed from sending `startAgent` over graphql-ws to receiving the run's first
 * RUNNING `agentRunUpdated` on the same connection (or the reply, when it already says RUNNING).
 * The run is let finish before the next, so each one finds a free slot.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LIMITS_ENV, nodeEnv, profiledAll, startStores, startWatched, stopAll, type ClusterStores, type WatchedBosun } from '../lib/cluster-nodes.js';
import { START_AGENT, startInput, wsRequest } from '../lib/graphql.js';
import { cpuMsPrecise } from '../lib/processes.js';
import { figure, type Benchmark } from '../lib/report.js';
import { summarize, type Summary } from '../lib/stats.js';

const ITERATIONS = Number(process.env['BENCH_CLUSTER_COST_ITERATIONS'] ?? 30);
const WARMUP = 3;
const TARGET_EXTRA_MS = 25;

interface Sample {
  /** startAgent sent → first RUNNING update (or the reply, when it says RUNNING). */
  readonly toRunning: number;
  /** startAgent sent → its reply. */
  readonly toReply: number;
  /** startAgent sent → the final update. */
  readonly toFinal: number;
  /** What the reply said. */
  readonly replyStatus: string;
}

async function sample(side: WatchedBosun): Promise<Sample> {
  const sent = performance.now();
  const reply = await wsRequest<{ startAgent: { agentId: string; status: string } }>(side.client, START_AGENT, startInput(['true']));
  const repliedAt = performance.now();
  const { agentId, status } = reply.startAgent;
  const update = status === 'RUNNING' ? side.watcher.arrived(agentId, 'RUNNING') : await side.watcher.reached(agentId, 'RUNNING');
  const runningAt = Math.min(update?.at ?? repliedAt, status === 'RUNNING' ? repliedAt : Number.POSITIVE_INFINITY);
  const final = await side.watcher.final(agentId);
  if (final.status !== 'SUCCEEDED') throw new Error(`${side.name}: run ${agentId} ended ${final.status}`);
  return { toRunning: runningAt - sent, toReply: repliedAt - sent, toFinal: final.at - sent, replyStatus: status };
}

const ms = (summary: Summary) => `${summary.median.toFixed(1)} ms (p95 ${summary.p95.toFixed(1)})`;

export const clusterCost: Benchmark = {
  name: 'cluster-cost',
  title: 'Cluster cost: startAgent → RUNNING, one cluster node (Redis + PostgreSQL) vs embedded (SQLite, in-process queue)',
  async run(context) {
    const sqliteDir = mkdtempSync(join(tmpdir(), 'bosun-bench-sqlite-'));
    const common = { ...LIMITS_ENV, MAX_CONCURRENT_AGENTS: '1' };
    let stores: ClusterStores | undefined;
    const sides: WatchedBosun[] = [];
    const samples = { embedded: [] as Sample[], cluster: [] as Sample[] };
    const cpu = { embedded: 0, cluster: 0 };
    try {
      stores = await startStores();
      const embedded = await startWatched('embedded', { ...common, BOSUN_DB_PATH: join(sqliteDir, 'bosun.db') }, context.profileDir);
      sides.push(embedded);
      const cluster = await startWatched('cluster', nodeEnv(stores, 'bench-cost-node', common), context.profileDir);
      sides.push(cluster);
      for (let iteration = 0; iteration < WARMUP; iteration += 1) {
        await sample(embedded);
        await sample(cluster);
      }
      const cpuBefore = { embedded: cpuMsPrecise(embedded.bosun.pid), cluster: cpuMsPrecise(cluster.bosun.pid) };
      await profiledAll(sides, 'cluster-cost', async () => {
        for (let iteration = 0; iteration < ITERATIONS; iteration += 1) {
          const order = iteration % 2 === 0 ? [embedded, cluster] : [cluster, embedded];
          for (const side of order) samples[side === embedded ? 'embedded' : 'cluster'].push(await sample(side));
          if (iteration % 10 === 9) context.log(`cluster-cost: ${iteration + 1}/${ITERATIONS}`);
        }
      });
      cpu.embedded = (cpuMsPrecise(embedded.bosun.pid) - cpuBefore.embedded) / ITERATIONS;
      cpu.cluster = (cpuMsPrecise(cluster.bosun.pid) - cpuBefore.cluster) / ITERATIONS;
    } finally {
      const left = await stopAll(sides);
      if (left > 0) context.log(`cluster-cost: ${left} container(s) had to be force-removed`);
      await stores?.stop();
      rmSync(sqliteDir, { recursive: true, force: true });
    }

    const of = (side: 'embedded' | 'cluster', key: 'toRunning' | 'toReply' | 'toFinal') => summarize(samples[side].map((entry) => entry[key]));
    const cluster = of('cluster', 'toRunning');
    const embedded = of('embedded', 'toRunning');
    const extra = cluster.median - embedded.median;
    const replied = (side: 'embedded' | 'cluster') => {
      const counts = new Map<string, number>();
      for (const entry of samples[side]) counts.set(entry.replyStatus, (counts.get(entry.replyStatus) ?? 0) + 1);
      return [...counts].map(([status, count]) => `${status} ${count}`).join(', ');
    };
    return {
      method:
        `${ITERATIONS} iterations after ${WARMUP} warm-up ones; in each, one \`true\` run on each bosun, the order alternating. ` +
        "Timed from sending `startAgent` over graphql-ws to receiving the run's first RUNNING `agentRunUpdated` on the same connection " +
        '(or the reply, if it says RUNNING and came first). Cluster: one node (BOSUN_NODE_NAME, BullMQ on a fresh loopback Redis, a fresh ' +
        'loopback PostgreSQL with fsync off: test/helpers/cluster-servers.ts); embedded: SQLite in a file in the temp dir and the in-process ' +
        'queue. Both processes run side by side the whole time, MAX_CONCURRENT_AGENTS 1, warm pool off, the same image and limits; every run ' +
        "ends before the next starts. Compared: the medians' difference.",
      rows: [
        {
          metric: 'startAgent → RUNNING',
          unit: 'ms',
          samples: `${cluster.n} / ${embedded.n}`,
          bosun: figure(cluster),
          baseline: { name: 'embedded', ...figure(embedded) },
          ratio: { value: extra, definition: 'cluster − embedded p50', shown: `${extra >= 0 ? '+' : '−'}${Math.abs(extra).toFixed(1)} ms` },
          target: `≤ +${TARGET_EXTRA_MS} ms`,
          pass: extra <= TARGET_EXTRA_MS,
        },
      ],
      notes: [
        `startAgent → reply: cluster ${ms(of('cluster', 'toReply'))}, embedded ${ms(of('embedded', 'toReply'))}. ` +
          `The reply said: cluster ${replied('cluster')}; embedded ${replied('embedded')}.`,
        `startAgent → final (a \`true\` step, the container created, started, run and removed): cluster ${ms(of('cluster', 'toFinal'))}, ` +
          `embedded ${ms(of('embedded', 'toFinal'))}.`,
        `→ RUNNING min / max: cluster ${cluster.min.toFixed(1)} / ${cluster.max.toFixed(1)} ms, embedded ${embedded.min.toFixed(1)} / ${embedded.max.toFixed(1)} ms.`,
        `bosun's CPU time per run (its process only; Redis and PostgreSQL not counted): cluster node ${cpu.cluster.toFixed(1)} ms, embedded ${cpu.embedded.toFixed(1)} ms.`,
      ],
    };
  },
};
