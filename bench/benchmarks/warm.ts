/**
 * 8. Warm pool (issue 16): what a sandbox created, started and frozen ahead of time saves a run.
 * Two bosun processes side by side, one with the pool (WARM_POOL_SIZE 1) and one without (0),
 * and the docker CLI, all with the same limits (1 CPU, 2 GiB, 1000 pids, no network). Per
 * iteration, in this order: `docker run --rm … true`; a warm and a cold `true` run (sent
 * `startAgent` over graphql-ws → final `agentRunUpdated` on the same connection); a warm and a
 * cold `echo first` run (sent `startAgent` → its first STDOUT line on an `agentLogs` subscription
 * opened on receiving the reply, so a line that came before it counts when replayed: never early).
 * Before each warm run the pool has its sandbox ready (the steady state); the refill is measured
 * apart: 20 runs started 0.5 s apart, and how many of them started warm.
 *
 * What the remaining time is made of is measured in this process on the engine directly with
 * bosun's own SandboxManager and WarmPool (the take path by phase: hand-over, first line of a
 * command, its exit code, removal), against a cold create + start.
 */
import type { Client } from 'graphql-ws';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import type { DockerSandbox } from '../../src/sandbox/docker-sandbox.js';
import { WarmPool } from '../../src/sandbox/warm-pool.js';
import { createDockerClient } from '../../src/sandbox/docker-client.js';
import { loadConfig } from '../../src/config.js';
import { createSilentLogger } from '../../src/logger.js';
import { startBosun, type BosunChild } from '../lib/bosun-child.js';
import { BENCH_LABEL, IMAGE, LIMIT_FLAGS, removeLabelled } from '../lib/docker-cli.js';
import { RunWatcher, START_AGENT, gql, startInput, wsClient, wsRequest } from '../lib/graphql.js';
import { run, sleep } from '../lib/processes.js';
import { figure, type Benchmark } from '../lib/report.js';
import { summarize, type Summary } from '../lib/stats.js';

const ITERATIONS = Number(process.env['BENCH_WARM_ITERATIONS'] ?? 30);
const WARMUP = 2;
const SPACED_RUNS = 20;
const SPACING_MS = 500;
const PHASE_SAMPLES = 20;
const GiB = 1024 ** 3;
/** The CLI's LIMIT_FLAGS, as bosun's defaults. */
const LIMITS_ENV = { DOCKER_CPU_LIMIT: '1', DOCKER_MEMORY_LIMIT: '2g', DOCKER_PIDS_LIMIT: '1000', MAX_CONCURRENT_AGENTS: '4' };
const LIMITS = { cpus: 1, memoryBytes: 2 * GiB, pidsLimit: 1000 };

interface Side {
  readonly bosun: BosunChild;
  readonly client: Client;
  readonly watcher: RunWatcher;
}

async function side(warm: boolean, profileDir: string | undefined): Promise<Side> {
  const bosun = await startBosun({ env: { ...LIMITS_ENV, WARM_POOL_SIZE: warm ? '1' : '0' }, profileDir: warm ? profileDir : undefined });
  const client = wsClient(bosun.wsUrl);
  const watcher = new RunWatcher(client);
  await watcher.ready;
  return { bosun, client, watcher };
}

async function close(s: Side | undefined): Promise<number> {
  if (!s) return 0;
  s.watcher.close();
  await s.client.dispose();
  return s.bosun.stop();
}

/** Waits until the pool of a warm bosun has its sandbox ready (polled every 10 ms). */
async function poolReady(s: Side, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { healthReport } = await gql<{ healthReport: { warmPool: Array<{ ready: number }> } }>(
      s.bosun.url,
      '{ healthReport { warmPool { ready } } }',
    );
    if (healthReport.warmPool[0]?.ready === 1) return;
    if (performance.now() > deadline) throw new Error('the warm pool did not get a ready sandbox within 30 s');
    await sleep(10);
  }
}

/** startAgent sent → final update received; also whether the run started warm. */
async function toFinal(s: Side, steps: string[]): Promise<{ ms: number; agentId: string }> {
  const sent = performance.now();
  const reply = await wsRequest<{ startAgent: { agentId: string } }>(s.client, START_AGENT, startInput(steps));
  const final = await s.watcher.final(reply.startAgent.agentId);
  if (final.status !== 'SUCCEEDED') throw new Error(`run ended ${final.status}`);
  return { ms: final.at - sent, agentId: reply.startAgent.agentId };
}

/** startAgent sent → the run's first STDOUT line received on agentLogs (subscribed on the reply). */
async function toFirstLine(s: Side): Promise<number> {
  const sent = performance.now();
  const reply = await wsRequest<{ startAgent: { agentId: string } }>(s.client, START_AGENT, startInput(['echo first']));
  const agentId = reply.startAgent.agentId;
  const at = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no output from ${agentId} within 30 s`)), 30_000);
    const dispose = s.client.subscribe<{ agentLogs: { stream: string } }>(
      { query: 'subscription($id: ID!) { agentLogs(agentId: $id) { stream } }', variables: { id: agentId } },
      {
        next: ({ data }) => {
          if (data?.agentLogs.stream !== 'STDOUT') return;
          clearTimeout(timer);
          resolve(performance.now());
          dispose();
        },
        error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
        complete: () => undefined,
      },
    );
  });
  await s.watcher.final(agentId);
  return at - sent;
}

async function warmStarts(s: Side, ids: readonly string[]): Promise<number> {
  let warm = 0;
  for (const id of ids) {
    const { agentRun } = await gql<{ agentRun: { warmStart: boolean } }>(s.bosun.url, 'query($id: ID!) { agentRun(id: $id) { warmStart } }', { id });
    if (agentRun.warmStart) warm += 1;
  }
  return warm;
}

interface Phases {
  readonly take: number[];
  readonly coldCreate: number[];
  readonly firstLine: number[];
  readonly exitCode: number[];
  readonly remove: number[];
  readonly takeUnpauseOnly: number[];
  /** From a take until the pool has a ready sandbox again (polled every 5 ms). */
  readonly refill: number[];
}

/** The take path by phase, with bosun's own classes on the engine, in this process. */
async function phases(runId: string): Promise<Phases> {
  const docker = createDockerClient(loadConfig({ LOG_LEVEL: 'silent' }).docker);
  const instanceId = `bench-phases-${runId}`;
  const manager = new SandboxManager(docker, instanceId);
  const pool = new WarmPool<DockerSandbox>({
    provider: manager,
    backend: manager,
    images: [IMAGE],
    size: 1,
    limits: LIMITS,
    user: manager.isolation.user,
    maxAgeMs: 3_600_000,
    logger: createSilentLogger(),
  });
  const result: Phases = { take: [], coldCreate: [], firstLine: [], exitCode: [], remove: [], takeUnpauseOnly: [], refill: [] };
  let takenAt: number | undefined;
  const firstLineOf = async (sandbox: DockerSandbox) => {
    const started = performance.now();
    let first = 0;
    await sandbox.exec('echo first', { onOutput: () => (first ||= performance.now()) });
    return { first: first - started, done: performance.now() - started };
  };
  try {
    pool.rebuild();
    for (let i = 0; i < PHASE_SAMPLES; i += 1) {
      while (pool.status()[0]!.ready < 1) await sleep(5);
      if (takenAt !== undefined) result.refill.push(performance.now() - takenAt);
      // A run with other limits than the pool's: the update goes out beside the unpause.
      const other = i % 2 === 1;
      const t0 = performance.now();
      const sandbox = await pool.create({ runId: `phase-${i}`, image: IMAGE, limits: other ? { ...LIMITS, cpus: 0.5 } : LIMITS, env: { A: '1' } });
      takenAt = performance.now();
      (other ? result.take : result.takeUnpauseOnly).push(takenAt - t0);
      if (!sandbox.warmStart) throw new Error('the phase measurement expected a warm sandbox');
      const line = await firstLineOf(sandbox);
      result.firstLine.push(line.first);
      result.exitCode.push(line.done - line.first);
      const t1 = performance.now();
      await sandbox.dispose();
      result.remove.push(performance.now() - t1);

      const t2 = performance.now();
      const cold = await manager.create({ runId: `phase-cold-${i}`, image: IMAGE, limits: LIMITS });
      result.coldCreate.push(performance.now() - t2);
      await cold.dispose();
    }
  } finally {
    await pool.close();
    await manager.disposeAll();
    await removeLabelled('bosun.instance', instanceId);
  }
  return result;
}

const ms = (s: Summary) => `${s.median.toFixed(1)} ms (p95 ${s.p95.toFixed(1)})`;

export const warm: Benchmark = {
  name: 'warm',
  title: 'Warm pool: startAgent → final and → first output line, warm vs cold vs docker run',
  async run(context) {
    const label = `${BENCH_LABEL}=${context.runId}`;
    let hot: Side | undefined;
    let cold: Side | undefined;
    const cli: number[] = [];
    const warmFinal: number[] = [];
    const coldFinal: number[] = [];
    const warmLine: number[] = [];
    const coldLine: number[] = [];
    let spaced: number | undefined;
    const warmFinalRuns: string[] = [];
    try {
      hot = await side(true, context.profileDir);
      cold = await side(false, undefined);
      const hotSide = hot;
      const coldSide = cold;
      await hotSide.bosun.profiled('warm', async () => {
        for (let iteration = 0; iteration < WARMUP + ITERATIONS; iteration += 1) {
          const counted = iteration >= WARMUP;
          const plain = await run('docker', ['run', '--rm', '--label', label, ...LIMIT_FLAGS, IMAGE, 'true']);
          await poolReady(hotSide);
          const w = await toFinal(hotSide, ['true']);
          const c = await toFinal(coldSide, ['true']);
          await poolReady(hotSide);
          const wl = await toFirstLine(hotSide);
          const cl = await toFirstLine(coldSide);
          if (counted) {
            cli.push(plain.ms);
            warmFinal.push(w.ms);
            warmFinalRuns.push(w.agentId);
            coldFinal.push(c.ms);
            warmLine.push(wl);
            coldLine.push(cl);
          }
          if (iteration % 10 === 9) context.log(`warm: ${iteration + 1}/${WARMUP + ITERATIONS}`);
        }
      });
      const measuredWarm = await warmStarts(hotSide, warmFinalRuns);
      if (measuredWarm !== warmFinalRuns.length) throw new Error(`only ${measuredWarm} of ${warmFinalRuns.length} measured warm runs started warm`);

      // The refill keeping up: 20 runs 0.5 s apart, each waited for only by its own start.
      await poolReady(hotSide);
      const spacedRuns: string[] = [];
      const finals: Array<Promise<unknown>> = [];
      for (let i = 0; i < SPACED_RUNS; i += 1) {
        const startedAt = performance.now();
        const reply = await wsRequest<{ startAgent: { agentId: string } }>(hotSide.client, START_AGENT, startInput(['echo spaced']));
        spacedRuns.push(reply.startAgent.agentId);
        finals.push(hotSide.watcher.final(reply.startAgent.agentId));
        await sleep(Math.max(0, SPACING_MS - (performance.now() - startedAt)));
      }
      await Promise.all(finals);
      spaced = await warmStarts(hotSide, spacedRuns);
      context.log(`warm: ${spaced} of ${SPACED_RUNS} spaced runs started warm`);
    } finally {
      const left = (await close(hot)) + (await close(cold));
      await removeLabelled(BENCH_LABEL, context.runId);
      if (left > 0) context.log(`warm: ${left} bosun container(s) had to be force-removed`);
    }
    context.log('warm: the take path by phase');
    const parts = await phases(context.runId);

    const spacedWarm = spaced ?? 0;
    const sCli = summarize(cli);
    const sWarm = summarize(warmFinal);
    const sCold = summarize(coldFinal);
    const sWarmLine = summarize(warmLine);
    const sColdLine = summarize(coldLine);
    const vsCli = sWarm.median / sCli.median;
    const p = {
      take: summarize(parts.take),
      takeUnpauseOnly: summarize(parts.takeUnpauseOnly),
      coldCreate: summarize(parts.coldCreate),
      firstLine: summarize(parts.firstLine),
      exitCode: summarize(parts.exitCode),
      remove: summarize(parts.remove),
      refill: summarize(parts.refill),
    };
    return {
      method:
        `${ITERATIONS} iterations after ${WARMUP} warm-up ones, each in this order: \`docker run --rm\` with the same limits; a \`true\` run on ` +
        'bosun with the pool (WARM_POOL_SIZE 1, its sandbox ready) and on bosun without it (0); an `echo first` run on each. Runs are ' +
        'timed from sending `startAgent` over graphql-ws to the final `agentRunUpdated` (or the first STDOUT line on an `agentLogs` ' +
        `subscription opened on the reply); the CLI from spawning to exit. Then ${SPACED_RUNS} runs started ${SPACING_MS} ms apart on the ` +
        'pool of 1, counted by `warmStart`. Both bosun processes, each with an in-memory database, run at the same time; ratios compare medians.',
      rows: [
        {
          metric: 'one `true` step, start → final',
          unit: 'ms',
          samples: `${sWarm.n} / ${sCli.n}`,
          bosun: figure(sWarm),
          baseline: { name: 'docker run --rm', ...figure(sCli) },
          ratio: { value: vsCli, definition: 'warm / docker run time' },
          target: '≤ 0.35×',
          pass: vsCli <= 0.35,
        },
        {
          metric: 'start → first stdout line, warm',
          unit: 'ms',
          samples: `${sWarmLine.n} / ${sColdLine.n}`,
          bosun: figure(sWarmLine),
          baseline: { name: 'pool off (cold)', ...figure(sColdLine) },
          ratio: { value: sWarmLine.median / sColdLine.median, definition: 'warm / cold time' },
          target: '≤ 40 ms p50',
          pass: sWarmLine.median <= 40,
        },
        {
          metric: `${SPACED_RUNS} runs ${SPACING_MS} ms apart, pool 1: started warm`,
          unit: 'runs',
          samples: `${SPACED_RUNS}`,
          bosun: { median: spacedWarm, p95: spacedWarm },
          baseline: null,
          ratio: null,
          target: `≥ ${SPACED_RUNS - 1} of ${SPACED_RUNS}`,
          pass: spacedWarm >= SPACED_RUNS - 1,
        },
      ],
      notes: [
        `Cold (pool off) start → final: ${ms(sCold)}; warm / cold ${(sWarm.median / sCold.median).toFixed(2)}×; docker run --rm min ${sCli.min.toFixed(0)} ms, warm min ${sWarm.min.toFixed(0)} ms.`,
        `The take path by phase (${PHASE_SAMPLES} samples in this process, bosun's SandboxManager and WarmPool on the engine): hand-over with the ` +
          `pool's limits (unpause, and the image id read beside it) ${ms(p.takeUnpauseOnly)}; with other limits (update, rename and unpause together) ${ms(p.take)}; ` +
          `a command's first output line after the hand-over ${ms(p.firstLine)}; then its exit code ${ms(p.exitCode)}; removal ${ms(p.remove)}. ` +
          `Against a cold create + start of ${ms(p.coldCreate)}. The pool was ready again ${ms(p.refill)} after a take ` +
          "(create, start, the first command's process, freeze; meanwhile the measured command ran and both sandboxes were removed).",
      ],
    };
  },
};
