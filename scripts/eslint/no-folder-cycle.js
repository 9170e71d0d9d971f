// @ts-check
/**
 * ESLint rule `bosun/no-folder-cycle`: no import cycle between the parts of src/.
 *
 * A part is a top-level folder of src/ (src/runs, src/monitor, ...) or a file directly in src/
 * (src/config.ts). `import-x/no-cycle` sees cycles between files; this sees the one the
 * architecture cares about, e.g. src/schema/a.ts -> src/resolvers/b.ts while
 * src/resolvers/c.ts -> src/schema/d.ts, where no file imports itself back.
 *
 * The first file linted makes the rule read every .ts file under src/ once and collect its
 * relative imports (`import ... from`, `export ... from`, `import '...'`, `import('...')`; type-only
 * imports count too: they couple the parts all the same). An import from part A to part B is
 * reported when B leads back to A, with the way back in the message. The linted file's own imports
 * come from its syntax tree, so an edit shows at once; the other files' are read once a process
 * (an editor's long-lived ESLint may need a restart to see another file's change).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';

/** @typedef {Map<string, Set<string>>} PartGraph part -> parts it imports */

const SOURCE_EXTENSIONS = new Set(['.ts', '.js']);
const IMPORT_PATTERNS = [
  /\b(?:import|export)\b[^'";]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]/g,
  /\bimport\s*['"](\.{1,2}\/[^'"]+)['"]/g,
  /\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g,
];

/** @type {Map<string, PartGraph>} src directory -> graph */
const graphs = new Map();

/**
 * The part a path under `srcDir` belongs to, or undefined outside src/.
 * @param {string} srcDir
 * @param {string} path
 */
export function partOf(srcDir, path) {
  const inside = relative(srcDir, path);
  if (inside === '' || inside.startsWith('..') || inside.startsWith(sep)) return undefined;
  const [first, ...rest] = inside.split(sep);
  if (first === undefined) return undefined;
  // A file directly in src/: `config.js` in an import names `config.ts`.
  return rest.length === 0 ? first.replace(/\.(?:js|ts)$/, '') : `${first}/`;
}

/** @param {string} dir @returns {string[]} */
function sourceFiles(dir) {
  /** @type {string[]} */
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'public') files.push(...sourceFiles(path));
    } else if (SOURCE_EXTENSIONS.has(extname(entry.name)) && !entry.name.endsWith('.d.ts')) {
      files.push(path);
    }
  }
  return files;
}

/** @param {string} srcDir @returns {PartGraph} */
function buildGraph(srcDir) {
  /** @type {PartGraph} */
  const graph = new Map();
  for (const file of sourceFiles(srcDir)) {
    const from = partOf(srcDir, file);
    if (from === undefined) continue;
    const text = readFileSync(file, 'utf8');
    for (const pattern of IMPORT_PATTERNS) {
      for (const match of text.matchAll(pattern)) {
        const to = partOf(srcDir, resolve(dirname(file), /** @type {string} */ (match[1])));
        if (to !== undefined && to !== from) addEdge(graph, from, to);
      }
    }
  }
  return graph;
}

/** @param {PartGraph} graph @param {string} from @param {string} to */
function addEdge(graph, from, to) {
  let targets = graph.get(from);
  if (!targets) graph.set(from, (targets = new Set()));
  targets.add(to);
}

/**
 * The shortest way from `start` to `goal` (both included), or undefined.
 * @param {PartGraph} graph @param {string} start @param {string} goal
 * @returns {string[] | undefined}
 */
export function pathBetween(graph, start, goal) {
  /** @type {Map<string, string | null>} */
  const cameFrom = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const part = /** @type {string} */ (queue.shift());
    if (part === goal) {
      const path = [];
      for (let at = /** @type {string | null | undefined} */ (part); at != null; at = cameFrom.get(at)) path.unshift(at);
      return path;
    }
    for (const next of graph.get(part) ?? []) {
      if (!cameFrom.has(next)) {
        cameFrom.set(next, part);
        queue.push(next);
      }
    }
  }
  return undefined;
}

/** @type {import('eslint').Rule.RuleModule} */
const rule = {
  meta: {
    type: 'problem',
    docs: { description: "Forbid import cycles between src/'s top-level folders and files" },
    schema: [],
    messages: {
      cycle: '{{from}} imports {{to}}, and {{to}} leads back to {{from}} ({{way}}): a cycle between parts of src/',
    },
  },
  create(context) {
    const srcDir = join(context.cwd, 'src');
    const from = partOf(srcDir, context.filename);
    if (from === undefined) return {};
    let graph = graphs.get(srcDir);
    if (!graph) graphs.set(srcDir, (graph = buildGraph(srcDir)));
    const parts = graph;

    /** @param {{ source?: { type: string; value?: unknown } | null }} node an import or export, static or dynamic */
    const check = (node) => {
      const source = node.source;
      if (!source || source.type !== 'Literal' || typeof source.value !== 'string' || !source.value.startsWith('.')) return;
      const to = partOf(srcDir, resolve(dirname(context.filename), source.value));
      if (to === undefined || to === from) return;
      const way = pathBetween(parts, to, from);
      if (way) context.report({ node: source, messageId: 'cycle', data: { from, to, way: way.join(' -> ') } });
    };
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check,
    };
  },
};

export default rule;
