/**
 * The dashboard's files: the one fixed allow-list of what `/` and `/dashboard/*` may serve, built
 * once at start-up. The page's own files come from `src/dashboard/public/`; three libraries come
 * from node_modules (uPlot's ESM build and stylesheet, graphql-ws's browser client and the chunk
 * it imports). A request is answered only when its path is a key of this list, so no URL can
 * name any other file.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file the dashboard serves. */
export interface DashboardAsset {
  /** The URL path it answers, e.g. `/dashboard/js/main.js`. */
  readonly urlPath: string;
  /** Where it is on disk. */
  readonly filePath: string;
  readonly contentType: string;
}

/** URL path → asset. */
export type DashboardAssets = ReadonlyMap<string, DashboardAsset>;

/** The URL prefix of every dashboard file but the page itself. */
export const DASHBOARD_PREFIX = '/dashboard/';

/** The page, served at `/` (and at `/dashboard/` for a trailing-slash visitor). */
export const DASHBOARD_PAGE = 'index.html';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page's own files, next to this module (the same folder under tsx and in the repository). */
export const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/**
 * Builds the allow-list: every file of {@link PUBLIC_DIR} with a known extension (under
 * `/dashboard/<relative path>`), and the vendor files (under `/dashboard/vendor/<package>/<file>`).
 * @throws Error when a vendor file is missing (a broken install should stop start-up, not 404 later).
 */
export function loadDashboardAssets(publicDir: string = PUBLIC_DIR): DashboardAssets {
  const assets = new Map<string, DashboardAsset>();
  const add = (urlPath: string, filePath: string): void => {
    const contentType = CONTENT_TYPES[extname(filePath)];
    if (!contentType) return;
    if (!existsSync(filePath)) throw new Error(`dashboard: ${filePath} is missing (for ${urlPath})`);
    assets.set(urlPath, { urlPath, filePath, contentType });
  };
  for (const relative of listFiles(publicDir)) add(`${DASHBOARD_PREFIX}${relative}`, join(publicDir, relative));
  for (const vendor of vendorFiles()) add(`${DASHBOARD_PREFIX}vendor/${vendor.name}`, vendor.filePath);
  return assets;
}

/** Files under `dir`, as `/`-separated paths relative to it (dot-files skipped). */
function listFiles(dir: string, prefix = ''): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    if (entry.isDirectory()) files.push(...listFiles(join(dir, entry.name), `${prefix}${entry.name}/`));
    else if (entry.isFile()) files.push(`${prefix}${entry.name}`);
  }
  return files;
}

interface VendorFile {
  /** `<package>/<file>`, the path under `/dashboard/vendor/`. */
  readonly name: string;
  readonly filePath: string;
}

const require = createRequire(import.meta.url);

/**
 * The libraries the page imports. graphql-ws's browser entry (`exports["./client"].browser`) is
 * an ES module that imports a content-hashed sibling chunk (`./common-<hash>.js`); the chunk's
 * name is read from the entry so that an upgrade does not need an edit here.
 */
export function vendorFiles(): VendorFile[] {
  const uplotEsm = require.resolve('uplot/dist/uPlot.esm.js');
  const uplotCss = join(dirname(uplotEsm), 'uPlot.min.css');

  const wsRoot = dirname(require.resolve('graphql-ws/package.json'));
  const wsPackage = JSON.parse(readFileSync(join(wsRoot, 'package.json'), 'utf8')) as {
    exports?: { './client'?: { browser?: string } };
  };
  const clientEntry = wsPackage.exports?.['./client']?.browser;
  if (!clientEntry) throw new Error('dashboard: graphql-ws has no browser build at exports["./client"].browser');
  const clientPath = join(wsRoot, clientEntry);
  const clientDir = dirname(clientPath);
  const chunks = siblingImports(readFileSync(clientPath, 'utf8'));

  return [
    { name: 'uplot/uPlot.esm.js', filePath: uplotEsm },
    { name: 'uplot/uPlot.min.css', filePath: uplotCss },
    { name: 'graphql-ws/client.js', filePath: clientPath },
    ...chunks.map((chunk) => ({ name: `graphql-ws/${chunk}`, filePath: join(clientDir, chunk) })),
  ];
}

/**
 * The modules an ES module imports from its own folder (`import … from './x.js'`, `export … from`,
 * `import './x.js'`), read from the statements that start a line. Only plain file names
 * are accepted, so the list can never reach outside that folder.
 * @throws Error for any other import (the file would not load in a browser without it).
 */
export function siblingImports(source: string): string[] {
  const names = new Set<string>();
  // Static import and re-export statements start a line in a bundled module; strings and comments
  // that merely mention `from '…'` do not.
  const statements = /^(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]|^import\s*['"]([^'"]+)['"]/gm;
  for (const match of source.matchAll(statements)) {
    const specifier = (match[1] ?? match[2])!;
    const name = /^\.\/([A-Za-z0-9_-]+\.js)$/.exec(specifier)?.[1];
    if (!name) throw new Error(`dashboard: graphql-ws's browser client imports ${specifier}, which the dashboard cannot serve`);
    names.add(name);
  }
  return [...names];
}
