/**
 * `bosun/client` as a package export: package.json points it at the compiled module of
 * src/client/index.ts, and the client's import graph reaches no runtime dependency but
 * graphql-ws's client and tar-stream (and Node's built-ins): a user installs nothing of the server.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as client from '../../src/client/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Every module reachable from `entry` by static imports, and the bare specifiers they import. */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'/gm)) {
      const specifier = (match[1] ?? match[2])!;
      if (/^(?:import|export)\s+type\s/.test(match[0].trim())) continue;
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else packages.add(specifier);
    }
  };
  visit(entry);
  return { files, packages };
}

describe('bosun/client', () => {
  it('is exported as the compiled src/client/index.ts, with its types', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> };
    const entry = manifest.exports['./client'];
    expect(entry).toEqual({ types: './dist/client/index.d.ts', default: './dist/client/index.js' });
    // dist/ mirrors src/ (the build's rootDir is src).
    expect(existsSync(join(ROOT, entry!['default']!.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts')))).toBe(true);
  });

  it('imports nothing at run time but graphql-ws/client, tar-stream and node: built-ins', () => {
    const { files, packages } = importGraph(join(ROOT, 'src/client/index.ts'));
    const foreign = [...packages].filter((name) => !name.startsWith('node:') && name !== 'graphql-ws/client' && name !== 'tar-stream');
    expect(foreign).toEqual([]);
    // Nothing of the server: only the client's own modules and shared pure helpers.
    const outside = [...files].map((file) => file.slice(ROOT.length + 1)).filter((file) => !/^src\/(client|shared)\//.test(file));
    expect(outside).toEqual([]);
    expect(files.size).toBeGreaterThan(5);
  });

  it('exports the client, its errors and its sandbox', () => {
    expect(typeof client.BosunClient).toBe('function');
    expect(typeof client.createBosunClient).toBe('function');
    expect(
      new client.RunEndedError({
        id: 'r',
        status: 'CANCELLED',
        failureReason: null,
        error: 'cancelled while waiting in the queue',
      } as client.RunInfo),
    ).toMatchObject({
      code: 'RUN_ENDED',
      message: 'run r ended CANCELLED before it started (cancelled while waiting in the queue)',
    });
    expect(client.createBosunClient({ url: 'http://127.0.0.1:1' }).url).toBe('http://127.0.0.1:1/graphql');
    expect(typeof client.Sandbox.prototype[Symbol.asyncDispose]).toBe('function');
  });
});
