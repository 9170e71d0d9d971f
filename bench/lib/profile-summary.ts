/**
 * Reads the `--cpu-prof` and `--heap-prof` files of the processes under test and lists where the
 * time (self time per function, and total time per bosun source file) and the sampled live
 * memory went, so a miss can be traced to a function without opening DevTools.
 * Also usable alone: `tsx bench/lib/profile-summary.ts <dir>`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './processes.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface CpuNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: CpuNode[];
  samples: number[];
  timeDeltas: number[];
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

function shown(file: string): string {
  return file.startsWith(ROOT) ? file.slice(ROOT.length) : file;
}

function where(frame: CallFrame): string {
  const url = frame.url.replace(pathToFileURL(ROOT).href, '').replace(ROOT, '');
  const name = frame.functionName || '(anonymous)';
  return url === '' ? name : `${name} ${url}:${frame.lineNumber + 1}`;
}

function top(entries: Map<string, number>, total: number, count: number, unit: (value: number) => string): string[] {
  return [...entries.entries()]
    .sort((x, y) => y[1] - x[1])
    .slice(0, count)
    .map(([key, value]) => `  ${((value / total) * 100).toFixed(1).padStart(5)}%  ${unit(value).padStart(9)}  ${key}`);
}

export function summarizeCpuProfile(file: string, count = 20): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, index) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  let total = 0;
  const self = new Map<string, number>();
  const inclusiveBySrcFile = new Map<string, number>();
  const inclusiveBySrcFunction = new Map<string, number>();
  const inclusiveByPackage = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);
  for (const [id, us] of selfUs) {
    total += us;
    const node = byId.get(id)!;
    add(self, where(node.callFrame), us);
    // Inclusive time: each sample counts once for every bosun file, bosun function and package on its stack.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(frame.url)?.[1];
      const src = pkg === undefined ? /\/src\/.+$/.exec(frame.url)?.[0] : undefined;
      const keys = pkg !== undefined ? [`pkg ${pkg}`] : src !== undefined ? [`file ${src}`, `fn ${where(frame)}`] : [];
      for (const key of keys) {
        if (seen.has(key)) continue;
        seen.add(key);
        if (key.startsWith('pkg ')) add(inclusiveByPackage, key.slice(4), us);
        else if (key.startsWith('file ')) add(inclusiveBySrcFile, key.slice(5), us);
        else add(inclusiveBySrcFunction, key.slice(3), us);
      }
    }
  }
  const ms = (us: number) => `${(us / 1000).toFixed(1)} ms`;
  const busy = total - (self.get('(idle)') ?? 0);
  return [
    `CPU profile ${shown(file)}: ${ms(total)} sampled, ${ms(busy)} not idle (percentages below are of the busy time)`,
    'self time by function:',
    ...top(withoutIdle(self), busy, count, ms),
    'inclusive time by bosun source file:',
    ...top(inclusiveBySrcFile, busy, 12, ms),
    'inclusive time by bosun function:',
    ...top(inclusiveBySrcFunction, busy, 15, ms),
    'inclusive time by package:',
    ...top(inclusiveByPackage, busy, 12, ms),
  ].join('\n');
}

function withoutIdle(entries: Map<string, number>): Map<string, number> {
  const copy = new Map(entries);
  copy.delete('(idle)');
  return copy;
}

export function summarizeHeapProfile(file: string, count = 15): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: HeapNode };
  const self = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode) => {
    if (node.selfSize > 0) {
      const key = where(node.callFrame);
      self.set(key, (self.get(key) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return [`heap profile ${shown(file)}: ${mb(total)} sampled live at exit`, ...top(self, total, count, mb)].join('\n');
}

/**
 * Summaries of every profile under `dir` (recursively). Profiles of threads that never ran bosun
 * code (tsx's module loader thread) are left out.
 */
export function summarizeProfiles(dir: string): string {
  const parts: string[] = [];
  for (const name of readdirSync(dir, { recursive: true }).map(String).sort()) {
    const file = join(dir, name);
    if (!name.endsWith('.cpuprofile') && !name.endsWith('.heapprofile')) continue;
    if (!readFileSync(file, 'utf8').includes('/src/')) continue;
    parts.push(name.endsWith('.cpuprofile') ? summarizeCpuProfile(file) : summarizeHeapProfile(file));
  }
  return parts.join('\n\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const target = process.argv[2];
  if (!target) {
    console.error('usage: tsx bench/lib/profile-summary.ts <dir | file>');
    process.exit(2);
  }
  if (target.endsWith('.cpuprofile')) console.log(summarizeCpuProfile(target));
  else if (target.endsWith('.heapprofile')) console.log(summarizeHeapProfile(target));
  else console.log(summarizeProfiles(target));
}
