/**
 * 6. Concurrency fidelity: with MAX_CONCURRENT_AGENTS 4, 40 runs of `sleep 1` never have more than
 * 4 sandboxes alive at once — and do have 4 — as the engine itself sees it (`docker events`,
 * start / die of containers with the instance's label); and they get through as fast as the
 * shell one-liner a user would write instead: `seq 40 | xargs -P4 … docker run --rm … sleep 1`.
 * Rounds alternate (xargs, bosun).
 */
import { startBosun } from '../lib/bosun-child.js';
import { BENCH_LABEL, IMAGE, LIMIT_FLAGS, removeLabelled } from '../lib/docker-cli.js';
import { gql, RunWatcher, START_AGENT, startInput, wsClient } from '../lib/graphql.js';
import { LiveContainers } from '../lib/live-containers.js';
import { run, sleep } from '../lib/processes.js';
import { figure, type Benchmark } from '../lib/report.js';
import { summarize } from '../lib/stats.js';

const LIMIT = 4;
const JOBS = 40;
const ROUNDS = Number(process.env['BENCH_CONCURRENCY_ROUNDS'] ?? 3);

export const concurrency: Benchmark = {
  name: 'concurrency',
  title: `Concurrency fidelity: limit ${LIMIT}, ${JOBS} runs of sleep 1`,
  async run(context) {
    const bosun = await startBosun({ env: { MAX_CONCURRENT_AGENTS: String(LIMIT) }, profileDir: context.profileDir });
    const client = wsClient(bosun.wsUrl);
    const watcher = new RunWatcher(client);
    const ours: number[] = [];
    const base: number[] = [];
    const peaks: number[] = [];
    const basePeaks: number[] = [];
    const failures: string[] = [];
    try {
      await watcher.ready;
      // Warm-up: one run, so that the first round does not pay for image and code loading.
      const warm = await gql<{ startAgent: { agentId: string } }>(bosun.url, START_AGENT, startInput(['true']));
      await watcher.final(warm.startAgent.agentId);

      for (let round = 0; round < ROUNDS; round += 1) {
        // xargs -P4 with plain docker run --rm.
        const roundLabel = `${context.runId}-${round}`;
        const baseEvents = new LiveContainers('bosun.bench.round', [roundLabel]);
        await sleep(500);
        const script =
          `seq ${JOBS} | xargs -P${LIMIT} -I{} docker run --rm --label ${BENCH_LABEL}=${context.runId} ` +
          `--label bosun.bench.round=${roundLabel} ${LIMIT_FLAGS.join(' ')} ${IMAGE} sleep 1`;
        const shell = await run('bash', ['-c', script]);
        base.push(JOBS / (shell.ms / 1000));
        await sleep(1000);
        baseEvents.stop();
        basePeaks.push(baseEvents.peak());

        // bosun: 40 startAgent calls, then every run's final update.
        const events = new LiveContainers('bosun.instance', [bosun.instanceId]);
        await sleep(500);
        const started = performance.now();
        const ids: string[] = [];
        for (let job = 0; job < JOBS; job += 1) {
          const reply = await gql<{ startAgent: { agentId: string } }>(bosun.url, START_AGENT, startInput(['sleep 1']));
          ids.push(reply.startAgent.agentId);
        }
        const finals = await bosun.profiled(`concurrency-round-${round}`, () => Promise.all(ids.map((id) => watcher.final(id, 120_000))));
        const last = Math.max(...finals.map((final) => final.at));
        ours.push(JOBS / ((last - started) / 1000));
        for (const final of finals) if (final.status !== 'SUCCEEDED') failures.push(final.status);
        await sleep(1000);
        events.stop();
        peaks.push(events.peak());
        context.log(
          `concurrency: round ${round + 1}/${ROUNDS}: xargs ${(shell.ms / 1000).toFixed(1)} s (peak ${basePeaks.at(-1)}), ` +
            `bosun ${((last - started) / 1000).toFixed(1)} s (peak ${peaks.at(-1)}, ${events.starts} starts)`,
        );
      }
    } finally {
      watcher.close();
      await client.dispose();
      await bosun.stop();
      await removeLabelled(BENCH_LABEL, context.runId);
    }
    const so = summarize(ours);
    const sb = summarize(base);
    const value = so.median / sb.median;
    const exact = peaks.every((peak) => peak === LIMIT);
    return {
      method:
        `${ROUNDS} rounds, alternating the xargs one-liner and bosun. Peak = the most containers alive at once when the start / die ` +
        "events `docker events` reported (filtered on the label `bosun.instance=<id>`) are replayed in the engine's time order. " +
        `Throughput = ${JOBS} / wall time: bosun from the first of ${JOBS} startAgent calls (made one after another over HTTP) to the last ` +
        'final `agentRunUpdated` received over graphql-ws; xargs from spawn to exit. Ratio of medians.',
      rows: [
        {
          metric: 'peak live sandboxes (docker events)',
          unit: '',
          samples: `${peaks.length} rounds`,
          bosun: { median: summarize(peaks).median, p95: summarize(peaks).max },
          baseline: null,
          ratio: null,
          target: `exactly ${LIMIT} in every round`,
          pass: exact,
        },
        {
          metric: `${JOBS} × sleep 1 throughput`,
          unit: 'runs/s',
          samples: `${so.n} / ${sb.n} rounds`,
          bosun: figure(so),
          baseline: { name: `xargs -P${LIMIT} docker run --rm`, ...figure(sb) },
          ratio: { value, definition: 'bosun / xargs runs/s' },
          target: '≥ 0.9×',
          pass: value >= 0.9 && failures.length === 0,
        },
      ],
      notes: [
        `Peaks per round: bosun ${peaks.join(', ')}; xargs ${basePeaks.join(', ')}.`,
        `Wall time per round: bosun ${ours.map((r) => (JOBS / r).toFixed(2)).join(', ')} s; xargs ${base.map((r) => (JOBS / r).toFixed(2)).join(', ')} s ` +
          `(the floor is ${JOBS / LIMIT} s of sleeping).`,
        `Runs not SUCCEEDED: ${failures.length === 0 ? 'none' : failures.join(', ')}.`,
      ],
    };
  },
};
