/**
 * examples/python/fix_loop.py, run with python3 against the whole service on the real engine
 * (with a token): it exits 0, its last line is the path of the downloaded patch, and that patch
 * fixes the example repository's bug — checked in a fresh sandbox, where the test fails before
 * the patch is applied (busybox `patch -p1`) and passes after.
 */
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { BosunClient } from '../../src/client/index.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = join(ROOT, 'examples/python/fix_loop.py');
const TOKEN = 'fix-loop-test-token-0123456789';

let app: TestApp | undefined;
let patchDir: string | undefined;

afterEach(async () => {
  if (patchDir) await rm(patchDir, { recursive: true, force: true });
  patchDir = undefined;
  if (app) expect(await app.close(), 'containers left behind by the app').toBe(0);
  app = undefined;
});

/** The example's repository, as the script defines it (read from the script itself). */
async function exampleRepository(): Promise<Record<string, string>> {
  const { stdout } = await run('python3', [
    '-c',
    'import json, sys; sys.path.insert(0, sys.argv[1]); import fix_loop; print(json.dumps(fix_loop.REPOSITORY))',
    dirname(SCRIPT),
  ]);
  return JSON.parse(stdout) as Record<string, string>;
}

describe('examples/python/fix_loop.py', () => {
  it('fixes the bug, finishes, downloads fix.patch and prints its path last', async () => {
    app = await startTestApp({ MAX_CONCURRENT_AGENTS: '1', BOSUN_API_TOKEN: TOKEN });
    const { stdout, stderr } = await run('python3', [SCRIPT, app.origin, TOKEN], { timeout: 120_000 });
    const lines = stdout.trimEnd().split('\n');
    expect(stderr).toBe('');
    expect(lines).toContain('attempt 1: sh test.sh exited 1: FAIL add 2 3: expected 5, got -1');
    expect(lines).toContain('attempt 2: sh test.sh exited 0: PASS add 2 3 = 5');
    expect(lines).toContain('finished: SUCCEEDED');

    const patchPath = lines.at(-1)!;
    patchDir = dirname(patchPath);
    const patch = await readFile(patchPath, 'utf8');
    expect(patch).toMatch(/^--- a\/calc\.sh/m);
    expect(patch).toContain('-  echo $(($1 - $2))');
    expect(patch).toContain('+  echo $(($1 + $2))');

    // The script's run: SUCCEEDED, its commands recorded as steps.
    const bosun = new BosunClient({ url: app.url, token: TOKEN });
    const { agentRuns } = await bosun.request<{ agentRuns: { status: string; steps: { command: string; exitCode: number }[] }[] }>(
      '{ agentRuns(limit: 1) { status steps { command exitCode } } }',
    );
    expect(agentRuns[0]!.status).toBe('SUCCEEDED');
    expect(agentRuns[0]!.steps.filter((step) => step.command === 'sh test.sh').map((step) => step.exitCode)).toEqual([1, 0]);

    // The patch fixes the bug of the original repository.
    const repository = await exampleRepository();
    await using sb = await bosun.sandbox({ group: { id: 'fix-loop-check', name: 'check the patch' } });
    await sb.writeFiles([
      ...Object.entries(repository).map(([name, content]) => ({ path: `/workspace/check/${name}`, content })),
      { path: '/tmp/fix.patch', content: patch },
    ]);
    expect((await sb.exec('sh test.sh', { cwd: '/workspace/check' })).exitCode).toBe(1);
    const applied = await sb.exec('patch -p1 < /tmp/fix.patch && sh test.sh', { cwd: '/workspace/check' });
    expect(applied).toMatchObject({ exitCode: 0, stdout: expect.stringContaining('PASS add 2 3 = 5') as unknown });
    await sb.finish(0);
  });

  it('exits 1 with a message when bosun refuses it (a wrong token), and 2 without arguments', async () => {
    app = await startTestApp({ BOSUN_API_TOKEN: TOKEN });
    const wrong = await run('python3', [SCRIPT, app.url, 'not-the-token-0123456789']).then(
      () => undefined,
      (error: unknown) => error as { code: number; stderr: string; stdout: string },
    );
    expect(wrong).toMatchObject({ code: 1, stdout: '' });
    expect(wrong!.stderr).toMatch(/^fix_loop: UNAUTHENTICATED: /);
    const usage = await run('python3', [SCRIPT]).then(
      () => undefined,
      (error: unknown) => error as { code: number; stderr: string },
    );
    expect(usage).toMatchObject({ code: 2, stderr: 'python3 examples/python/fix_loop.py URL [TOKEN]\n' });
  });
});
