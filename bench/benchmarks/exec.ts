/**
 * 8. Command round trip of an external run: `exec("true")` sent to bosun over HTTP GraphQL (the
 * bosun/client's `sb.exec`, a keep-alive fetch) against the two ways a user would run the same
 * command in the same container without bosun: (a) `docker exec <c> true` (the CLI), (b) a raw
 * dockerode exec from this process (create, start attached, wait for the output's end, inspect
 * for the exit code). All three run in the one sandbox bosun created for the run (its limits:
 * 1 CPU, 2 GiB, 1000 pids, no network), interleaved, the order rotating each iteration.
 */
import Docker from 'dockerode';
import { BosunClient } from '../../src/client/index.js';
import { startBosun } from '../lib/bosun-child.js';
import { run } from '../lib/processes.js';
import { figure, figureWithP99, type Benchmark } from '../lib/report.js';
import { summarize } from '../lib/stats.js';

const ITERATIONS = Number(process.env['BENCH_EXEC_ITERATIONS'] ?? 100);
const WARMUP = 5;

/** Where the time of a raw exec goes, in ms: the create call, start to the output's end, the inspect(s). */
interface RawExecPhases {
  readonly createMs: number;
  readonly runMs: number;
  readonly inspectMs: number;
  /** Inspects it took until the engine had the exit code (1 when it had it at once). */
  readonly inspects: number;
}

/** One exec of `true` over the engine's API, as dockerode users write it; resolves with its exit code and phases. */
async function rawExec(container: Docker.Container): Promise<{ exitCode: number; phases: RawExecPhases }> {
  const started = performance.now();
  const exec = await container.exec({ Cmd: ['true'], AttachStdout: true, AttachStderr: true });
  const created = performance.now();
  const stream = await exec.start({ hijack: true, stdin: false });
  await new Promise<void>((resolve, reject) => {
    stream.once('end', () => resolve());
    stream.once('close', () => resolve());
    stream.once('error', reject);
    stream.resume();
  });
  const ended = performance.now();
  for (let inspects = 1; ; inspects += 1) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null) {
      const phases = { createMs: created - started, runMs: ended - created, inspectMs: performance.now() - ended, inspects };
      return { exitCode: info.ExitCode, phases };
    }
  }
}

/**
 * A diagnostic, not a baseline: one long-lived `sh` exec in the container, fed commands on its
 * standard input, each answered by a marker line. What a command costs when no engine exec is
 * created per command (the lower bound of a design that keeps a process in the sandbox).
 */
class PersistentShell {
  private buffer = '';
  private waiting: { marker: string; resolve: () => void } | undefined;
  private sequence = 0;

  private constructor(private readonly stream: NodeJS.ReadWriteStream) {
    stream.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('latin1');
      if (this.waiting && this.buffer.includes(this.waiting.marker)) {
        this.buffer = '';
        const { resolve } = this.waiting;
        this.waiting = undefined;
        resolve();
      }
    });
  }

  static async open(container: Docker.Container): Promise<PersistentShell> {
    const exec = await container.exec({ Cmd: ['sh'], AttachStdin: true, AttachStdout: true, AttachStderr: true });
    return new PersistentShell(await exec.start({ hijack: true, stdin: true }));
  }

  /** Runs `true` through the shell; resolves with the round trip in ms. */
  async run(): Promise<number> {
    this.sequence += 1;
    const marker = `bosun-bench-done-${this.sequence}`;
    const started = performance.now();
    await new Promise<void>((resolve) => {
      this.waiting = { marker, resolve };
      this.stream.write(`true; echo ${marker}\n`);
    });
    return performance.now() - started;
  }

  close(): void {
    this.stream.end('exit\n');
  }
}

export const exec: Benchmark = {
  name: 'exec',
  title: 'External run command round trip: exec("true") over HTTP GraphQL',
  async run(context) {
    const bosun = await startBosun({
      env: { MAX_CONCURRENT_AGENTS: '1', DOCKER_CPU_LIMIT: '1', DOCKER_MEMORY_LIMIT: '2g', DOCKER_PIDS_LIMIT: '1000' },
      profileDir: context.profileDir,
    });
    const client = new BosunClient({ url: bosun.url });
    const docker = new Docker();
    const cli: number[] = [];
    const raw: number[] = [];
    const ours: number[] = [];
    const serverSide: number[] = [];
    const phases: RawExecPhases[] = [];
    const persistent: number[] = [];
    try {
      const sb = await client.sandbox({ group: { id: 'bench', name: 'bench' }, config: { idleTimeoutMs: 600_000 } });
      try {
        // A RUNNING run may still be creating its sandbox; a call waits for it.
        await sb.exec('true');
        const { containerId } = await sb.info();
        if (containerId === null) throw new Error('the run has no container');
        const container = docker.getContainer(containerId);
        const shell = await PersistentShell.open(container);
        const sides: Record<'cli' | 'raw' | 'bosun', () => Promise<number>> = {
          cli: async () => (await run('docker', ['exec', containerId, 'true'])).ms,
          raw: async () => {
            const started = performance.now();
            const { exitCode, phases: phase } = await rawExec(container);
            const ms = performance.now() - started;
            if (exitCode !== 0) throw new Error(`raw exec exited ${exitCode}`);
            phases.push(phase);
            return ms;
          },
          bosun: async () => {
            const started = performance.now();
            const result = await sb.exec('true');
            const ms = performance.now() - started;
            if (result.exitCode !== 0) throw new Error(`bosun exec exited ${result.exitCode}`);
            serverSide.push(result.durationMs);
            return ms;
          },
        };
        const order = ['cli', 'raw', 'bosun'] as const;
        await bosun.profiled('exec', async () => {
          for (let iteration = 0; iteration < WARMUP + ITERATIONS; iteration += 1) {
            const counted = iteration >= WARMUP;
            for (let turn = 0; turn < order.length; turn += 1) {
              const side = order[(iteration + turn) % order.length]!;
              const ms = await sides[side]();
              if (!counted) continue;
              if (side === 'cli') cli.push(ms);
              else if (side === 'raw') raw.push(ms);
              else ours.push(ms);
            }
            const viaShell = await shell.run();
            if (counted) persistent.push(viaShell);
            else {
              serverSide.length = 0;
              phases.length = 0;
            }
            if (iteration % 25 === 24) context.log(`exec: ${iteration + 1}/${WARMUP + ITERATIONS}`);
          }
        });
        shell.close();
        await sb.finish(0);
      } finally {
        await sb.dispose();
      }
    } finally {
      await client.close();
      const left = await bosun.stop();
      if (left > 0) context.log(`exec: ${left} bosun container(s) had to be force-removed`);
    }

    const so = summarize(ours);
    const sc = summarize(cli);
    const sr = summarize(raw);
    const ss = summarize(serverSide);
    const sp = summarize(persistent);
    const reinspected = phases.filter((entry) => entry.inspects > 1).length;
    const phase = (key: keyof RawExecPhases) => summarize(phases.map((entry) => entry[key])).median.toFixed(1);
    const vsCli = so.median / sc.median;
    const vsRaw = so.median / sr.median;
    return {
      method:
        `${ITERATIONS} iterations after ${WARMUP} warm-up ones, each running (a), (b) and bosun once, in an order that rotates every ` +
        'iteration, all in the one sandbox container of an external run. bosun: `sb.exec("true")` of bosun/client (POST /graphql ' +
        'on a keep-alive connection, which runs `sh -c true` under its timeout wrapper and records it as a step), timed in this ' +
        'process from the call to its answer; (a) from spawning `docker exec <c> true` to its exit; (b) a dockerode exec from this ' +
        'process: create, start attached, output ended, inspect until the exit code is there. bosun runs in its own process. ' +
        'Ratios compare medians.',
      rows: [
        {
          metric: 'exec("true") round trip',
          unit: 'ms',
          samples: `${so.n} / ${sc.n}`,
          bosun: figureWithP99(so),
          baseline: { name: '(a) docker exec <c> true', ...figure(sc) },
          ratio: { value: vsCli, definition: 'bosun / (a) time' },
          target: '≤ 0.5×',
          pass: vsCli <= 0.5,
        },
        {
          metric: 'exec("true") round trip',
          unit: 'ms',
          samples: `${so.n} / ${sr.n}`,
          bosun: figureWithP99(so),
          baseline: { name: '(b) raw dockerode exec', ...figure(sr) },
          ratio: { value: vsRaw, definition: 'bosun / (b) time' },
          target: '≤ 1.3×',
          pass: vsRaw <= 1.3,
        },
      ],
      notes: [
        `bosun: min ${so.min.toFixed(1)} ms, p99 ${so.p99.toFixed(1)} ms; (a): min ${sc.min.toFixed(1)} ms; (b): min ${sr.min.toFixed(1)} ms, p99 ${sr.p99.toFixed(1)} ms.`,
        `The command's own durationMs as bosun reports it (its exec in the engine, inside bosun): median ${ss.median.toFixed(1)} ms, ` +
          `p95 ${ss.p95.toFixed(1)} ms; the rest of bosun's round trip (HTTP, GraphQL, the step's records) is about ` +
          `${(so.median - ss.median).toFixed(1)} ms at the median.`,
        `Where (b)'s time goes (medians): create ${phase('createMs')} ms, start → output ended ${phase('runMs')} ms (the engine ` +
          `starting the process in the container and reaping it), inspect ${phase('inspectMs')} ms; ${reinspected} of ${phases.length} needed more ` +
          `than one inspect (the output ended before the engine had the exit code). (a) costs ` +
          `${(sc.median - sr.median).toFixed(1)} ms more than (b) at the median: the docker CLI process itself.`,
        `Diagnostic (c), not a target: \`true\` sent to one long-lived \`sh\` exec's standard input in the same container and ` +
          `answered by a marker line (no engine exec per command): median ${sp.median.toFixed(2)} ms, p95 ${sp.p95.toFixed(2)} ms.`,
      ],
    };
  },
};
