/**
 * Runs a snippet in a new Node process under tsx, from the repository root: for tests of what a
 * process loads (this one has loaded whatever other test files loaded).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `body` as an ES module (imports relative to the repository root); resolves with what it printed, parsed as JSON. */
export async function inFreshProcess(body: string): Promise<Record<string, unknown>> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', body], { cwd: ROOT });
  return JSON.parse(stdout) as Record<string, unknown>;
}

/**
 * Snippet lines defining `cached(name)`: how many files of the package `name` the CommonJS cache
 * holds (while a package is deferred: only its entry's stand-in, 1).
 */
export const CACHE_COUNTER = `
import { createRequire as createCacheRequire } from 'node:module';
const cached = (name) => Object.keys(createCacheRequire(import.meta.url).cache).filter((file) => file.includes('/node_modules/' + name + '/')).length;
`;
