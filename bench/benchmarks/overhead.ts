/**
 * 1. Run overhead: what bosun adds to running one `true` step in a sandbox, against the two ways a
 * user would do it by hand with the docker CLI. Per iteration, in this order: (a) `docker run --rm`,
 * (b) the original design through the CLI (`docker run -d` keep-alive, `docker exec`, `docker rm -f`),
 * then bosun (`startAgent` sent over graphql-ws → the run's final `agentRunUpdated` received on the
 * same connection). Same limits everywhere: 1 CPU, 2 GiB, 1000 pids, no network.
 */
import { startBosun } from '../lib/bosun-child.js';
import { BENCH_LABEL, IMAGE, LIMIT_FLAGS, removeLabelled } from '../lib/docker-cli.js';
import { RunWatcher, START_AGENT, startInput, wsClient, wsRequest } from '../lib/graphql.js';
import { run } from '../lib/processes.js';
import { figure, type Benchmark } from '../lib/report.js';
import { summarize } from '../lib/stats.js';

const ITERATIONS = Number(process.env['BENCH_OVERHEAD_ITERATIONS'] ?? 30);
const WARMUP = 2;

export const overhead: Benchmark = {
  name: 'overhead',
  title: 'Run overhead: startAgent → final update for one `true` step',
  async run(context) {
    const label = `${BENCH_LABEL}=${context.runId}`;
    const bosun = await startBosun({
      env: { MAX_CONCURRENT_AGENTS: '1', DOCKER_CPU_LIMIT: '1', DOCKER_MEMORY_LIMIT: '2g', DOCKER_PIDS_LIMIT: '1000' },
      profileDir: context.profileDir,
    });
    const client = wsClient(bosun.wsUrl);
    const watcher = new RunWatcher(client);
    const a: number[] = [];
    const b: number[] = [];
    const ours: number[] = [];
    try {
      await watcher.ready;
      await bosun.profiled('overhead', async () => {
        for (let iteration = 0; iteration < WARMUP + ITERATIONS; iteration += 1) {
          const counted = iteration >= WARMUP;

          // (a) one CLI call.
          const plain = await run('docker', ['run', '--rm', '--label', label, ...LIMIT_FLAGS, IMAGE, 'true']);

          // (b) the original design through the CLI: three calls.
          const started = performance.now();
          const { stdout } = await run('docker', ['run', '-d', '--label', label, ...LIMIT_FLAGS, IMAGE, 'sleep', '2147483647']);
          const id = stdout.trim();
          try {
            await run('docker', ['exec', id, 'true']);
          } finally {
            await run('docker', ['rm', '-f', id]);
          }
          const original = performance.now() - started;

          // bosun: mutation sent → final status received, on one graphql-ws connection.
          const sent = performance.now();
          const reply = await wsRequest<{ startAgent: { agentId: string } }>(client, START_AGENT, startInput(['true']));
          const final = await watcher.final(reply.startAgent.agentId);
          if (final.status !== 'SUCCEEDED') throw new Error(`bosun run ended ${final.status}`);
          const bosunMs = final.at - sent;

          if (counted) {
            a.push(plain.ms);
            b.push(original);
            ours.push(bosunMs);
          }
          if (iteration % 10 === 9) context.log(`overhead: ${iteration + 1}/${WARMUP + ITERATIONS}`);
        }
      });
    } finally {
      watcher.close();
      await client.dispose();
      const left = await bosun.stop();
      await removeLabelled(BENCH_LABEL, context.runId);
      if (left > 0) context.log(`overhead: ${left} bosun container(s) had to be force-removed`);
    }

    const sa = summarize(a);
    const sb = summarize(b);
    const so = summarize(ours);
    const samples = `${so.n} / ${sa.n}`;
    const vsA = so.median / sa.median;
    const vsB = so.median / sb.median;
    return {
      method:
        `${ITERATIONS} iterations after ${WARMUP} warm-up ones, each running (a), (b) and bosun in that order. (a) and (b) are timed from ` +
        'spawning the first docker CLI process to the exit of the last; bosun from sending `startAgent` over graphql-ws to receiving the ' +
        'SUCCEEDED `agentRunUpdated` on the same connection (bosun in its own process, MAX_CONCURRENT_AGENTS 1). Ratios compare medians.',
      rows: [
        {
          metric: 'one `true` step, start → final',
          unit: 'ms',
          samples,
          bosun: figure(so),
          baseline: { name: '(a) docker run --rm', ...figure(sa) },
          ratio: { value: vsA, definition: 'bosun / (a) time' },
          target: '≤ 1.05×',
          pass: vsA <= 1.05,
        },
        {
          metric: 'one `true` step, start → final',
          unit: 'ms',
          samples: `${so.n} / ${sb.n}`,
          bosun: figure(so),
          baseline: { name: '(b) run -d + exec + rm -f', ...figure(sb) },
          ratio: { value: vsB, definition: 'bosun / (b) time' },
          target: '≤ 0.6×',
          pass: vsB <= 0.6,
        },
      ],
      notes: [`bosun: min ${so.min.toFixed(0)} ms, p99 ${so.p99.toFixed(0)} ms; (a): min ${sa.min.toFixed(0)} ms; (b): min ${sb.min.toFixed(0)} ms.`],
    };
  },
};
