/**
 * One owner per database: a second bosun started on the database of a running one (here even
 * with the same instance id) is refused with one line naming the file, before it touches
 * anything; the first goes on serving, its container untouched, and its run completes.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { freePort, startChildServer, type ChildServer } from '../helpers/child-server.js';
import { createTestDocker, readInside, removeLeftovers, testInstanceId } from '../helpers/docker.js';
import { startRun, waitForFinal, waitForRun } from '../helpers/e2e.js';
import { postGraphQL } from '../helpers/graphql-clients.js';

/** A run read with its log lines (`logs { line }`). */
interface RunWithLogs {
  readonly status: string;
  readonly logs: readonly { readonly line: string }[];
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const docker = createTestDocker();
const children: ChildServer[] = [];
const cleanups: Array<() => Promise<unknown> | void> = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.process.exitCode === null) child.process.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** Runs `npm start`'s entry point to its exit. */
async function runMain(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

it('refuses a second bosun on the same database with one line naming it; the first keeps serving and its run completes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-one-owner-'));
  const instanceId = testInstanceId();
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => removeLeftovers(docker, instanceId));
  const dbPath = join(dir, 'bosun.db');
  const env = { BOSUN_DB_PATH: dbPath, BOSUN_INSTANCE_ID: instanceId, DOCKER_MEMORY_LIMIT: '128m', STOP_GRACE_MS: '500' };

  const first = await startChildServer(env, await freePort());
  children.push(first);
  const { agentId } = await startRun(first.url, { steps: ['while [ ! -e /tmp/go ]; do sleep 0.1; done; echo finished'] });
  const running = await waitForRun(first.url, agentId, (run) => run['status'] === 'RUNNING' && run['containerId'] !== null, 'the run runs');
  const containerId = running['containerId'] as string;

  const second = await runMain({ ...env, PORT: String(await freePort()) });
  expect(second.stderr).toBe(
    `bosun: the database ${dbPath} is in use by another process (another bosun on the same file?); one bosun owns a database\n`,
  );
  expect(second.stdout).toBe('');
  expect(second.code).toBe(1);

  // The first instance is untouched: its container runs, it answers, and the run completes.
  expect((await docker.getContainer(containerId).inspect()).State.Running).toBe(true);
  const health = await postGraphQL(first.url, '{ healthReport { store { status } } queueStatus { running } }');
  expect(health.body.data).toEqual({ healthReport: { store: { status: 'OK' } }, queueStatus: { running: 1 } });
  await readInside(docker, containerId, 'touch /tmp/go');
  const final = await waitForFinal<RunWithLogs>(first.url, agentId, 20_000, 'logs { line }');
  expect(final.status).toBe('SUCCEEDED');
  expect(final.logs.map((l) => l.line)).toContain('finished');
  expect(first.process.exitCode).toBeNull();
  expect(first.output()).not.toMatch(/unique|constraint|uncaught/i);
}, 90_000);
