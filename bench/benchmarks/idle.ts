/**
 * 8. Idle: the resident memory of a fresh bosun that has nothing to do, started as `npm start`
 * starts it (scripts/start.sh: the compiled dist/main.js on the set-up Node with bosun's V8 flags,
 * against the real engine, with a new database), and how long it takes to answer /health. The
 * baseline is a bare `node:http` server on the same Node with the same flags: what Node itself
 * costs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startedInstances } from '../lib/bosun-child.js';
import { ROOT, rss, sleep } from '../lib/processes.js';
import { figure, type Benchmark } from '../lib/report.js';
import { summarize } from '../lib/stats.js';

const STARTS = 3;
const IDLE_BEFORE_SAMPLES_MS = 3000;
const SAMPLES = 10;
const SAMPLE_EVERY_MS = 200;
const TARGET_MB = 100;
const MB = 1024 * 1024;

interface Started {
  readonly child: ChildProcess;
  /** From spawn to the first /health 200. */
  readonly readyMs: number;
  output(): string;
}

/** A TCP port that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Spawns `command` on a port of its own (PORT, and `args(port)`) and waits for `path` to answer 200. */
async function startAndWait(command: string, args: (port: number) => readonly string[], env: Record<string, string>, path: string): Promise<Started> {
  const port = await freePort();
  const began = performance.now();
  const child = spawn(command, args(port), {
    cwd: ROOT,
    env: { ...process.env, ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const deadline = began + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${command} exited ${child.exitCode} before answering:\n${output}`);
    const ok = await fetch(`http://127.0.0.1:${port}${path}`).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return { child, readyMs: performance.now() - began, output: () => output };
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${command} did not answer within 120 s:\n${output}`);
    }
    await sleep(20);
  }
}

async function idleSamples(pid: number): Promise<number[]> {
  await sleep(IDLE_BEFORE_SAMPLES_MS);
  const values: number[] = [];
  for (let index = 0; index < SAMPLES; index += 1) {
    values.push(rss(pid).rss / MB);
    await sleep(SAMPLE_EVERY_MS);
  }
  return values;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

/** Where `npm start` would run bosun (scripts/start.sh), built first so that no start pays for tsc. */
async function build(): Promise<void> {
  const child = spawn('bash', ['scripts/build.sh', '--if-stale'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`scripts/build.sh exited ${code}: ${errors}`);
}

/** The Node binary, V8 flags and MALLOC_ARENA_MAX of a process, from /proc. */
function commandLine(pid: number): { node: string; flags: string[]; arenaMax: string } {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  const arenaMax = environ.find((entry) => entry.startsWith('MALLOC_ARENA_MAX='))?.slice('MALLOC_ARENA_MAX='.length) ?? 'unset';
  return { node: readlinkSync(`/proc/${pid}/exe`), flags: argv.slice(1).filter((arg) => arg.startsWith('--')), arenaMax };
}

export const idle: Benchmark = {
  name: 'idle',
  title: 'Idle: resident memory and start-up of a fresh `npm start`',
  async run(context) {
    await build();
    const bosunRss: number[] = [];
    const readyMs: number[] = [];
    let node = '';
    let flags: string[] = [];
    let arenaMax = '';
    for (let start = 0; start < STARTS; start += 1) {
      const dir = mkdtempSync(join(tmpdir(), 'bosun-bench-idle-'));
      const instanceId = `bench-idle-${context.runId}-${start}`;
      startedInstances.add(instanceId);
      try {
        const bosun = await startAndWait(
          'bash',
          () => ['scripts/start.sh'],
          { BOSUN_DB_PATH: join(dir, 'bosun.db'), BOSUN_INSTANCE_ID: instanceId, LOG_LEVEL: 'info' },
          '/health',
        );
        try {
          // start.sh replaces itself with node (exec), so the child's pid is bosun's.
          ({ node, flags, arenaMax } = commandLine(bosun.child.pid!));
          readyMs.push(bosun.readyMs);
          bosunRss.push(...(await idleSamples(bosun.child.pid!)));
          context.log(`idle: start ${start + 1}: /health after ${bosun.readyMs.toFixed(0)} ms, RSS ${bosunRss.at(-1)!.toFixed(1)} MB`);
        } finally {
          await stop(bosun.child);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const bareScript = "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.argv[1]), '127.0.0.1')";
    const bareRss: number[] = [];
    for (let start = 0; start < STARTS; start += 1) {
      const bare = await startAndWait(node, (port) => [...flags, '-e', bareScript, String(port)], {}, '/');
      try {
        bareRss.push(...(await idleSamples(bare.child.pid!)));
      } finally {
        await stop(bare.child);
      }
    }
    const sb = summarize(bosunRss);
    const sn = summarize(bareRss);
    const sr = summarize(readyMs);
    return {
      method:
        `${STARTS} fresh starts of \`bash scripts/start.sh\` (what \`npm start\` runs after npm: set-up checks, then \`exec node ${flags.join(' ')} dist/main.js\`; ` +
        `dist/ built beforehand) on a new database, each sampled ${SAMPLES} times every ${SAMPLE_EVERY_MS} ms from ${IDLE_BEFORE_SAMPLES_MS / 1000} s after /health ` +
        'first answered (VmRSS of /proc/<pid>/status of the node process). Baseline: a bare node:http server on the same Node with the same flags. The target is checked on the p95.',
      rows: [
        {
          metric: 'idle RSS of a fresh start',
          unit: 'MB',
          samples: `${sb.n} / ${sn.n}`,
          bosun: figure(sb),
          baseline: { name: 'bare node:http', ...figure(sn) },
          ratio: { value: sb.median / sn.median, definition: 'bosun / bare Node RSS' },
          target: `≤ ${TARGET_MB} MB`,
          pass: sb.p95 <= TARGET_MB,
        },
      ],
      notes: [
        `Node: ${node} (${process.version}; ${flags.join(' ') || 'no flags'}; MALLOC_ARENA_MAX ${arenaMax}; the baseline has the flags, not the variable).`,
        `Start-up, from spawning scripts/start.sh to the first /health 200 (set-up checks, Docker engine and image checks, Node start, ` +
          `database, engine probe): median ${sr.median.toFixed(0)} ms, p95 ${sr.p95.toFixed(0)} ms over ${sr.n} starts. \`npm start\` adds npm's own start (a few hundred ms), ` +
          'and npm itself stays resident beside bosun (about 58 MB): a supervisor that runs `node dist/main.js` directly saves both.',
      ],
    };
  },
};
