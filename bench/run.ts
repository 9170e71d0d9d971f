/**
 * `npm run bench [-- <name> …] [--profile]`: runs the benchmarks (all, or the named ones), prints
 * the table and writes it with each benchmark's method and notes to bench/results/<date>.md
 * (<date>-<names>.md for a partial run). `--profile` (or BENCH_PROFILE=1) records a CPU profile
 * of the process under test (and a heap profile for `memory`) under bench/results/profiles/, and
 * prints the functions with the most self time. BENCH_ONLY=a,b is the same as naming them.
 */
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { clusterCost } from './benchmarks/cluster-cost.js';
import { clusterScaling } from './benchmarks/cluster-scaling.js';
import { concurrency } from './benchmarks/concurrency.js';
import { dispatch } from './benchmarks/dispatch.js';
import { exec } from './benchmarks/exec.js';
import { fanout } from './benchmarks/fanout.js';
import { idle } from './benchmarks/idle.js';
import { memory } from './benchmarks/memory.js';
import { monitoring } from './benchmarks/monitoring.js';
import { overhead } from './benchmarks/overhead.js';
import { throughput } from './benchmarks/throughput.js';
import { warm } from './benchmarks/warm.js';
import { startedInstances } from './lib/bosun-child.js';
import { BENCH_LABEL, dockerVersion, removeLabelled } from './lib/docker-cli.js';
import { BENCH_DIR, ROOT, loadAverage } from './lib/processes.js';
import { summarizeProfiles } from './lib/profile-summary.js';
import { markdown, textTable, type BenchReport, type Benchmark } from './lib/report.js';

const ALL: readonly Benchmark[] = [
  overhead,
  throughput,
  fanout,
  monitoring,
  dispatch,
  concurrency,
  memory,
  exec,
  warm,
  idle,
  clusterScaling,
  clusterCost,
];
/** Names that select several benchmarks at once; a run of a whole group is named after the group. */
const GROUPS: Readonly<Record<string, readonly string[]>> = { cluster: [clusterScaling.name, clusterCost.name] };
/**
 * Run only when named: they need Redis and PostgreSQL installed (`scripts/setup.sh --with-cluster`),
 * which `npm run setup` does not install, and take about ten minutes.
 */
const ONLY_WHEN_NAMED = new Set(GROUPS['cluster']);

function usage(): string {
  return `usage: npm run bench [-- [--profile] [${[...ALL.map((b) => b.name), ...Object.keys(GROUPS)].join('|')}] …]`;
}

const args = process.argv.slice(2);
const profile = args.includes('--profile') || process.env['BENCH_PROFILE'] === '1';
const named = [...args.filter((arg) => !arg.startsWith('--')), ...(process.env['BENCH_ONLY']?.split(',').filter(Boolean) ?? [])];
if (args.includes('--help')) {
  console.log(usage());
  process.exit(0);
}
const unknown = named.filter((name) => GROUPS[name] === undefined && !ALL.some((benchmark) => benchmark.name === name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}\n${usage()}`);
  process.exit(2);
}
const wanted = new Set(named.flatMap((name) => GROUPS[name] ?? [name]));
const selected =
  named.length === 0 ? ALL.filter((benchmark) => !ONLY_WHEN_NAMED.has(benchmark.name)) : ALL.filter((benchmark) => wanted.has(benchmark.name));

const runId = `run-${randomUUID().slice(0, 8)}`;
const stamp = new Date()
  .toISOString()
  .replaceAll(':', '-')
  .replace(/\.\d+Z$/, 'Z');
const profileDir = profile ? join(BENCH_DIR, 'results', 'profiles', stamp) : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });

async function cleanUp(): Promise<void> {
  await removeLabelled(BENCH_LABEL, runId);
  for (const instance of [...startedInstances]) await removeLabelled('bosun.instance', instance);
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`\n${signal}: removing the containers of this run…`);
    void cleanUp().finally(() => process.exit(130));
  });
}

const log = (message: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
const environment = [
  `node ${process.version}, Docker engine ${await dockerVersion()}, ${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'})`,
  `bosun commit ${gitHead()}${gitDirty() ? ' (working tree has uncommitted changes by others)' : ''}`,
  `load average at start: ${loadAverage()} (a shared machine: other engineers' Docker tests may run at the same time)`,
];

const reports: BenchReport[] = [];
const started = performance.now();
for (const benchmark of selected) {
  log(`${benchmark.name}: ${benchmark.title}`);
  const began = performance.now();
  try {
    const result = await benchmark.run({ profileDir, runId, log });
    reports.push({ name: benchmark.name, title: benchmark.title, seconds: (performance.now() - began) / 1000, ...result });
  } catch (error) {
    log(`${benchmark.name} failed: ${error instanceof Error ? error.stack : String(error)}`);
    reports.push({
      name: benchmark.name,
      title: benchmark.title,
      seconds: (performance.now() - began) / 1000,
      method: 'The benchmark failed before it finished.',
      rows: [
        {
          metric: `error: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 120)}`,
          unit: '',
          samples: '0',
          bosun: { median: Number.NaN, p95: Number.NaN },
          baseline: null,
          ratio: null,
          target: 'completes',
          pass: false,
        },
      ],
      notes: [],
    });
  } finally {
    await cleanUp();
  }
  log(`${benchmark.name}: done in ${((performance.now() - began) / 1000).toFixed(0)} s`);
  if (interrupted) break;
}
environment.push(`load average at end: ${loadAverage()}; whole run ${((performance.now() - started) / 1000).toFixed(0)} s`);

if (profileDir) {
  const summary = summarizeProfiles(profileDir);
  environment.push(`profiles in ${profileDir.slice(ROOT.length)} (not committed)`);
  console.log(summary);
  writeFileSync(join(profileDir, 'summary.txt'), summary);
}

const table = textTable(reports);
console.log(`\n${table}\n`);
const date = new Date().toISOString().slice(0, 10);
const suffix = named.length === 0 ? '' : `-${fileNameParts().join('-')}`;
const file = join(BENCH_DIR, 'results', `${date}${suffix}${profile ? '-profiled' : ''}.md`);
mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
writeFileSync(file, markdown(reports, environment));
console.log(`written to ${file.slice(ROOT.length)}`);
process.exit(0);

/** The selected benchmarks' names for the results file, a group's members replaced by the group's name when it was named. */
function fileNameParts(): string[] {
  const parts = new Set<string>();
  for (const benchmark of selected) {
    const group = Object.keys(GROUPS).find((name) => named.includes(name) && GROUPS[name]!.includes(benchmark.name));
    parts.add(group ?? benchmark.name);
  }
  return [...parts];
}

function gitHead(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function gitDirty(): boolean {
  try {
    return execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
}
