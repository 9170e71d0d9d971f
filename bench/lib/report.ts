/**
 * What a benchmark hands back, and the table and Markdown file the runner makes of it. Every row
 * is one check against one target: bosun's figure, the baseline's figure measured in the same run,
 * their ratio, and PASS / MISS.
 */
import { fmt, ratio, type Summary } from './stats.js';

export interface Figure {
  readonly median: number;
  readonly p95: number;
  /** Shown too where a target is stated on it. */
  readonly p99?: number;
}

export interface Row {
  /** What is measured, with its unit, e.g. "startAgent → final update (ms)". */
  readonly metric: string;
  readonly unit: string;
  /** Samples per side, e.g. "30 / 30". */
  readonly samples: string;
  readonly bosun: Figure;
  /** The baseline's name and figure; null for an absolute target. */
  readonly baseline: (Figure & { readonly name: string }) | null;
  /**
   * The ratio the target is stated in, and how it is defined; `shown` replaces the `1.23×` cell for
   * a target stated as a difference (e.g. "+12 ms").
   */
  readonly ratio: { readonly value: number; readonly definition: string; readonly shown?: string } | null;
  readonly target: string;
  readonly pass: boolean;
}

export interface BenchReport {
  readonly name: string;
  readonly title: string;
  /** How it was measured, in a sentence or two (what the timestamps are, what runs where). */
  readonly method: string;
  readonly rows: readonly Row[];
  /** Extra observations: secondary figures, engine CPU, what a miss comes from. */
  readonly notes: readonly string[];
  readonly seconds: number;
}

export interface Benchmark {
  readonly name: string;
  readonly title: string;
  run(context: BenchContext): Promise<Omit<BenchReport, 'name' | 'title' | 'seconds'>>;
}

export interface BenchContext {
  /** Profile the process under test (`--cpu-prof`, `--heap-prof` for memory) into this directory. */
  readonly profileDir: string | undefined;
  /** A label value unique to this run, put on every container the benchmarks create themselves. */
  readonly runId: string;
  log(message: string): void;
}

export function figure(summary: Pick<Summary, 'median' | 'p95'>): Figure {
  return { median: summary.median, p95: summary.p95 };
}

export function figureWithP99(summary: Pick<Summary, 'median' | 'p95' | 'p99'>): Figure {
  return { median: summary.median, p95: summary.p95, p99: summary.p99 };
}

function shown(value: Figure, unit: string): string {
  const p99 = value.p99 === undefined ? '' : ` (p99 ${fmt(value.p99)})`;
  return `${fmt(value.median)} / ${fmt(value.p95)}${p99}${unit === '' ? '' : ` ${unit}`}`;
}

function cells(report: BenchReport, row: Row): string[] {
  return [
    report.name,
    row.metric,
    row.samples,
    shown(row.bosun, row.unit),
    row.baseline === null ? '—' : `${row.baseline.name}: ${shown(row.baseline, row.unit)}`,
    row.ratio === null ? '—' : `${row.ratio.shown ?? ratio(row.ratio.value)} (${row.ratio.definition})`,
    row.target,
    row.pass ? 'PASS' : 'MISS',
  ];
}

const HEADER = ['benchmark', 'metric', 'samples', 'bosun median / p95', 'baseline median / p95', 'ratio', 'target', 'result'];

/** A plain-text table for the terminal. */
export function textTable(reports: readonly BenchReport[]): string {
  const rows = [HEADER, ...reports.flatMap((report) => report.rows.map((row) => cells(report, row)))];
  const widths = HEADER.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ');
  const rule = widths.map((width) => '-'.repeat(width)).join('-+-');
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join('\n');
}

function escape(cell: string): string {
  return cell.replaceAll('|', '\\|');
}

export function markdown(reports: readonly BenchReport[], environment: readonly string[]): string {
  const out: string[] = [];
  out.push(`# bosun benchmarks — ${new Date().toISOString()}`, '');
  out.push('Rerun with `npm run bench` (or `npm run bench -- <name> …` for some). Every ratio compares bosun with a baseline');
  out.push('measured in the same run, interleaved with it, so that a busy machine slows both sides alike.', '');
  out.push('## Environment', '', ...environment.map((line) => `- ${line}`), '');
  out.push('## Results', '');
  out.push(`| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`);
  for (const report of reports) for (const row of report.rows) out.push(`| ${cells(report, row).map(escape).join(' | ')} |`);
  out.push('');
  const passed = reports.flatMap((report) => report.rows).filter((row) => row.pass).length;
  const total = reports.flatMap((report) => report.rows).length;
  out.push(`${passed} of ${total} targets met.`, '');
  for (const report of reports) {
    out.push(`## ${report.name} — ${report.title} (${report.seconds.toFixed(0)} s)`, '', report.method, '');
    for (const note of report.notes) out.push(`- ${note}`);
    out.push('');
  }
  return out.join('\n');
}
