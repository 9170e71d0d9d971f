/**
 * 11. Cluster scaling (issue #17): 60 runs of `sleep 1` (a shell agent, steps ['sleep 1']) with
 * NODE_MAX_CONCURRENT_AGENTS 2 (the cluster's MAX_CONCURRENT_AGENTS 6, above what 3 nodes take) on
 * 1, 2 and 3 bosun nodes: each node its own child process with its own node name and instance id,
 * all on one fresh Redis and PostgreSQL per case and on this machine's one Docker engine. Runs are
 * started round-robin over the nodes (one `startAgent` after another over HTTP); throughput = 60 /
 * the time from the first `startAgent` sent to the last run's final `agentRunUpdated` received
 * (each node's graphql-ws subscription follows every run; the first to report a run's end counts).
 *
 * The nodes share one engine and two cores here, where real nodes would each have their own, so
 * the engine's own throughput bounds the cluster's: before each bosun case, the same 60 `sleep 1`
 * through `xargs -P<2 × nodes> docker run --rm` with the same limits is the ceiling for that case.
 * Cases alternate (1, 2, 3 nodes; then 3, 2, 1) over the rounds. Peak concurrent containers
 * (docker events, per case and per node) are the sanity check that the limits held.
 */
import { BENCH_LABEL, IMAGE, LIMIT_FLAGS, removeLabelled } from '../lib/docker-cli.js';
import {
  busyShare,
  machineCpu,
  nodeEnv,
  profiledAll,
  startStores,
  startWatched,
  stopAll,
  type ClusterStores,
  type WatchedBosun,
} from '../lib/cluster-nodes.js';
import { gql, START_AGENT, startInput } from '../lib/graphql.js';
import { LiveContainers } from '../lib/live-containers.js';
import { cpuMsOf, cpuMsPrecise, pidsNamed, run, sleep } from '../lib/processes.js';
import { figure, type Benchmark } from '../lib/report.js';
import { summarize } from '../lib/stats.js';

const RUNS = Number(process.env['BENCH_CLUSTER_RUNS'] ?? 60);
const ROUNDS = Number(process.env['BENCH_CLUSTER_ROUNDS'] ?? 3);
const NODE_LIMIT = 2;
const CLUSTER_LIMIT = 6;
const NODE_COUNTS = [1, 2, 3] as const;
const FINAL_TIMEOUT_MS = 600_000;

/** One case's figures: bosun on `nodes` nodes, or docker run --rm with `2 × nodes` in parallel. */
interface CaseFigures {
  readonly nodes: number;
  readonly runsPerSecond: number;
  readonly seconds: number;
  readonly peak: number;
  /** The engine's CPU time (dockerd + containerd) in the window, ms per run. */
  readonly engineCpuMsPerRun: number;
  /** The machine's busy share in the window (both cores). */
  readonly busy: number;
}

interface BosunCase extends CaseFigures {
  readonly peakPerNode: readonly number[];
  /** Runs each node ran (AgentRun.node), in node order. */
  readonly ranPerNode: readonly number[];
  readonly failures: readonly string[];
  /** All bosun nodes' CPU time in the window, ms per run. */
  readonly bosunCpuMsPerRun: number;
  /** Time to send the 60 startAgent calls (their replies included). */
  readonly submitSeconds: number;
}

function engineCpuMs(): number {
  return cpuMsOf([...pidsNamed('dockerd'), ...pidsNamed('containerd')]);
}

/** 60 × `docker run --rm … sleep 1` through xargs -P`parallel`, the same limits as bosun's sandboxes. */
async function dockerCeiling(parallel: number, runId: string, roundLabel: string): Promise<CaseFigures> {
  const events = new LiveContainers('bosun.bench.round', [roundLabel]);
  await sleep(500);
  const engine = engineCpuMs();
  const machine = machineCpu();
  const script =
    `seq ${RUNS} | xargs -P${parallel} -I{} docker run --rm --label ${BENCH_LABEL}=${runId} ` +
    `--label bosun.bench.round=${roundLabel} ${LIMIT_FLAGS.join(' ')} ${IMAGE} sleep 1`;
  const shell = await run('bash', ['-c', script]);
  const busy = busyShare(machine, machineCpu());
  const engineMs = engineCpuMs() - engine;
  await sleep(1000);
  events.stop();
  return {
    nodes: parallel / NODE_LIMIT,
    runsPerSecond: RUNS / (shell.ms / 1000),
    seconds: shell.ms / 1000,
    peak: events.peak(),
    engineCpuMsPerRun: engineMs / RUNS,
    busy,
  };
}

async function bosunCase(count: number, caseName: string, profileDir: string | undefined, log: (message: string) => void): Promise<BosunCase> {
  let stores: ClusterStores | undefined;
  const nodes: WatchedBosun[] = [];
  try {
    stores = await startStores();
    for (let index = 0; index < count; index += 1) {
      const name = `bench-node-${index + 1}`;
      const env = nodeEnv(stores, name, { MAX_CONCURRENT_AGENTS: String(CLUSTER_LIMIT), NODE_MAX_CONCURRENT_AGENTS: String(NODE_LIMIT) });
      nodes.push(await startWatched(name, env, profileDir));
    }
    const nodeAt = (index: number) => nodes[index % nodes.length]!;
    /** The first final update of run `id` any node's subscription reports. */
    const final = (id: string) => Promise.race(nodes.map((node) => node.watcher.final(id, FINAL_TIMEOUT_MS)));

    // Warm-up: a `true` run started on each node, so that no node's first run pays for code loading.
    const warm = await Promise.all(
      nodes.map(
        async (node) => (await gql<{ startAgent: { agentId: string } }>(node.bosun.url, START_AGENT, startInput(['true']))).startAgent.agentId,
      ),
    );
    await Promise.all(warm.map(final));

    const events = new LiveContainers(
      'bosun.instance',
      nodes.map((node) => node.bosun.instanceId),
    );
    await sleep(500);
    const pids = nodes.map((node) => node.bosun.pid);
    const bosunCpu = pids.reduce((sum, pid) => sum + cpuMsPrecise(pid), 0);
    const engine = engineCpuMs();
    const machine = machineCpu();
    const started = performance.now();
    let submitted = started;
    const finals = await profiledAll(nodes, caseName, async () => {
      const ids: string[] = [];
      for (let index = 0; index < RUNS; index += 1) {
        const reply = await gql<{ startAgent: { agentId: string } }>(nodeAt(index).bosun.url, START_AGENT, startInput(['sleep 1']));
        ids.push(reply.startAgent.agentId);
      }
      submitted = performance.now();
      return Promise.all(ids.map(async (id) => ({ id, ...(await final(id)) })));
    });
    const last = Math.max(...finals.map((entry) => entry.at));
    const busy = busyShare(machine, machineCpu());
    const engineMs = engineCpuMs() - engine;
    const bosunMs = pids.reduce((sum, pid) => sum + cpuMsPrecise(pid), 0) - bosunCpu;
    await sleep(1000);
    events.stop();

    const ranOn = new Map<string, number>();
    for (const { id } of finals) {
      const { agentRun } = await gql<{ agentRun: { node: string | null } }>(nodes[0]!.bosun.url, 'query($id: ID!) { agentRun(id: $id) { node } }', {
        id,
      });
      ranOn.set(agentRun.node ?? '(none)', (ranOn.get(agentRun.node ?? '(none)') ?? 0) + 1);
    }
    const seconds = (last - started) / 1000;
    return {
      nodes: count,
      runsPerSecond: RUNS / seconds,
      seconds,
      peak: events.peak(),
      peakPerNode: nodes.map((node) => events.peak(node.bosun.instanceId)),
      ranPerNode: nodes.map((node) => ranOn.get(node.name) ?? 0),
      failures: finals.filter((entry) => entry.status !== 'SUCCEEDED').map((entry) => entry.status),
      bosunCpuMsPerRun: bosunMs / RUNS,
      engineCpuMsPerRun: engineMs / RUNS,
      busy,
      submitSeconds: (submitted - started) / 1000,
    };
  } finally {
    const left = await stopAll(nodes);
    if (left > 0) log(`cluster-scaling: ${left} container(s) had to be force-removed`);
    await stores?.stop();
  }
}

/** Each round's 3-node / 1-node throughput ratio. */
function perRound(cases: ReadonlyMap<number, readonly CaseFigures[]>): string {
  const one = cases.get(1)!;
  return cases
    .get(3)!
    .map((three, round) => `${(three.runsPerSecond / one[round]!.runsPerSecond).toFixed(2)}×`)
    .join(', ');
}

/** The median time a run held its slot beyond its 1 s of sleep (creating, starting, stopping and removing its container, and bosun's part). */
function overheadOf(cases: ReadonlyMap<number, readonly CaseFigures[]>, count: number): string {
  const slots = count * NODE_LIMIT;
  return summarize(cases.get(count)!.map((result) => (result.seconds * slots) / RUNS - 1)).median.toFixed(2);
}

const pct = (share: number) => `${(share * 100).toFixed(0)} %`;
const rate = (value: number) => value.toFixed(2);

export const clusterScaling: Benchmark = {
  name: 'cluster-scaling',
  title: `Cluster scaling: ${RUNS} runs of sleep 1, node limit ${NODE_LIMIT}, on 1, 2 and 3 nodes`,
  async run(context) {
    const ours = new Map<number, BosunCase[]>(NODE_COUNTS.map((count) => [count, []]));
    const ceiling = new Map<number, CaseFigures[]>(NODE_COUNTS.map((count) => [count, []]));
    try {
      for (let round = 0; round < ROUNDS; round += 1) {
        const order = round % 2 === 0 ? [...NODE_COUNTS] : [...NODE_COUNTS].reverse();
        for (const count of order) {
          const parallel = count * NODE_LIMIT;
          const base = await dockerCeiling(parallel, context.runId, `${context.runId}-${round}-${count}`);
          ceiling.get(count)!.push(base);
          const result = await bosunCase(count, `cluster-scaling-round-${round}-${count}-nodes`, context.profileDir, (message) =>
            context.log(message),
          );
          ours.get(count)!.push(result);
          context.log(
            `cluster-scaling: round ${round + 1}/${ROUNDS}, ${count} node(s): bosun ${result.seconds.toFixed(1)} s ` +
              `(${rate(result.runsPerSecond)} runs/s, peak ${result.peak} [${result.peakPerNode.join('/')}], ran ${result.ranPerNode.join('/')}, ` +
              `busy ${pct(result.busy)}); docker run -P${parallel} ${base.seconds.toFixed(1)} s (${rate(base.runsPerSecond)} runs/s, peak ${base.peak})`,
          );
        }
      }
    } finally {
      await removeLabelled(BENCH_LABEL, context.runId);
    }

    const throughputOf = (count: number) => summarize(ours.get(count)!.map((result) => result.runsPerSecond));
    const ceilingOf = (count: number) => summarize(ceiling.get(count)!.map((result) => result.runsPerSecond));
    const one = throughputOf(1);
    const three = throughputOf(3);
    const value = three.median / one.median;
    const all = [...ours.values()].flat();
    const failures = all.flatMap((result) => result.failures);
    const limitsHeld = all.every((result) => result.peak <= result.nodes * NODE_LIMIT && result.peakPerNode.every((peak) => peak <= NODE_LIMIT));
    const filled = all.every((result) => result.peak === result.nodes * NODE_LIMIT);
    const dockerRatio = ceilingOf(3).median / ceilingOf(1).median;
    return {
      method:
        `${ROUNDS} rounds; in each, the cases 1, 2 and 3 nodes (in reverse order every other round), each right after its ceiling. ` +
        `bosun: ${RUNS} × \`sleep 1\` started round-robin over the nodes by one \`startAgent\` after another over HTTP, ` +
        `NODE_MAX_CONCURRENT_AGENTS ${NODE_LIMIT}, MAX_CONCURRENT_AGENTS ${CLUSTER_LIMIT}, warm pool off, one fresh Redis and PostgreSQL ` +
        'per case (loopback, test/helpers/cluster-servers.ts), every node its own child process with its own node name and instance id on ' +
        'the one Docker engine. Throughput = runs / time from the first `startAgent` sent to the last final `agentRunUpdated` received ' +
        '(every node has a graphql-ws subscription to all runs; the first to report an end counts). Ceiling: the same runs through ' +
        `\`seq ${RUNS} | xargs -P<2 × nodes> docker run --rm\` with the same limits. Peaks from \`docker events\` (start / die by ` +
        'instance label, replayed in engine time order). Ratio of medians.',
      rows: [
        {
          metric: `${RUNS} × sleep 1 throughput, 3 nodes vs 1`,
          unit: 'runs/s',
          samples: `${three.n} / ${one.n} rounds`,
          bosun: figure(three),
          baseline: { name: '1 node', ...figure(one) },
          ratio: { value, definition: '3-node / 1-node runs/s' },
          target: '≥ 2.6×',
          pass: value >= 2.6 && failures.length === 0,
        },
        {
          metric: 'peak live sandboxes (docker events)',
          unit: '',
          samples: `${all.length} cases`,
          bosun: { median: summarize(all.map((result) => result.peak)).median, p95: summarize(all.map((result) => result.peak)).max },
          baseline: null,
          ratio: null,
          target: `≤ ${NODE_LIMIT} per node in every case`,
          pass: limitsHeld,
        },
      ],
      notes: [
        `Throughput (runs/s, median of ${ROUNDS}): bosun 1 node ${rate(one.median)}, 2 nodes ${rate(throughputOf(2).median)}, ` +
          `3 nodes ${rate(three.median)} (2 nodes / 1: ${(throughputOf(2).median / one.median).toFixed(2)}×); ` +
          `ceiling docker run --rm -P2 ${rate(ceilingOf(1).median)}, -P4 ${rate(ceilingOf(2).median)}, -P6 ${rate(ceilingOf(3).median)} ` +
          `(-P6 / -P2: ${dockerRatio.toFixed(2)}×). Ideal (sleep 1 alone): ${NODE_LIMIT}, ${2 * NODE_LIMIT}, ${3 * NODE_LIMIT} runs/s.`,
        `bosun against its ceiling: 1 node ${(one.median / ceilingOf(1).median).toFixed(2)}×, 2 nodes ${(throughputOf(2).median / ceilingOf(2).median).toFixed(2)}×, ` +
          `3 nodes ${(three.median / ceilingOf(3).median).toFixed(2)}×.`,
        `Per round, 3 nodes / 1 node: bosun ${perRound(ours)}; docker run --rm -P6 / -P2: ${perRound(ceiling)}.`,
        `What a run costs beyond its 1 s of sleep, in a slot (wall time × slots / runs − 1 s), median: bosun ${NODE_COUNTS.map((count) => overheadOf(ours, count)).join(', ')} s ` +
          `on 1, 2, 3 nodes; docker run --rm ${NODE_COUNTS.map((count) => overheadOf(ceiling, count)).join(', ')} s at -P2, -P4, -P6.`,
        `Every sandbox slot filled in every case (peak = 2 × nodes): ${filled ? 'yes' : 'no'}. Runs not SUCCEEDED: ${failures.length === 0 ? 'none' : failures.join(', ')}.`,
        ...NODE_COUNTS.flatMap((count) =>
          ours
            .get(count)!
            .map(
              (result, round) =>
                `${count} node(s), round ${round + 1}: bosun ${result.seconds.toFixed(1)} s (sending the ${RUNS} startAgent calls ${result.submitSeconds.toFixed(1)} s), ` +
                `peak ${result.peak}, per node ${result.peakPerNode.join(' / ')}, runs per node ${result.ranPerNode.join(' / ')}; ` +
                `CPU per run: bosun (all nodes) ${result.bosunCpuMsPerRun.toFixed(1)} ms, dockerd + containerd ${result.engineCpuMsPerRun.toFixed(1)} ms; machine busy ${pct(result.busy)}. ` +
                `Ceiling -P${count * NODE_LIMIT}: ${ceiling.get(count)![round]!.seconds.toFixed(1)} s, peak ${ceiling.get(count)![round]!.peak}, ` +
                `dockerd + containerd ${ceiling.get(count)![round]!.engineCpuMsPerRun.toFixed(1)} ms per run, machine busy ${pct(ceiling.get(count)![round]!.busy)}.`,
            ),
        ),
      ],
    };
  },
};
