/**
 * Stopping bosun as people do: `npm start` in its own process group (as a terminal runs it), a
 * run of `sleep 120` running, then SIGINT to the whole group (Ctrl-C), SIGTERM to the whole group
 * (a supervisor stopping a process tree), or SIGTERM to npm alone. npm is in the group too and
 * passes the signal on, so bosun gets it twice; it must still stop once, gracefully: the run ends
 * INTERRUPTED, no container is left, and everything has exited within the grace + 5 s. First, that
 * what `npm start` runs is the compiled build (node dist/main.js, no tsx, no shell in between) and
 * that it serves the dashboard's files from there.
 *
 * SIGNAL_TEST_ROUNDS (default 3) sets how many times each group signal is tried.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/child-server.js';
import { containersOf, createTestDocker, removeLeftovers, testInstanceId } from '../helpers/docker.js';
import { pause, startRun, until, waitForRun } from '../helpers/e2e.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ROUNDS = Number(process.env['SIGNAL_TEST_ROUNDS'] ?? 3);
const SHUTDOWN_GRACE_MS = 2000;
const docker = createTestDocker();
const dirs: string[] = [];
const instances: string[] = [];

beforeAll(async () => {
  // What `npm start` would do on its first start; done once here so that each round below starts
  // as quickly as a second `npm start` does.
  await promisify(execFile)('bash', ['scripts/build.sh', '--if-stale'], { cwd: ROOT, timeout: 180_000 });
}, 200_000);

afterAll(async () => {
  for (const instanceId of instances) await removeLeftovers(docker, instanceId);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface NpmStart {
  readonly npm: ChildProcess;
  readonly url: string;
  readonly dbPath: string;
  readonly instanceId: string;
  output(): string;
}

/** `npm start` as a terminal starts it: the leader of a new process group (its pid is the group's id). */
async function npmStart(): Promise<NpmStart> {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-signals-'));
  dirs.push(dir);
  const instanceId = testInstanceId();
  instances.push(instanceId);
  const port = await freePort();
  const dbPath = join(dir, 'bosun.db');
  const npm = spawn('npm', ['start'], {
    cwd: ROOT,
    detached: true,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      BOSUN_DB_PATH: dbPath,
      BOSUN_INSTANCE_ID: instanceId,
      LOG_LEVEL: 'debug',
      SHUTDOWN_GRACE_MS: String(SHUTDOWN_GRACE_MS),
      STOP_GRACE_MS: '500',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}/graphql`;
  await until('npm start to answer /health', 60_000, async () => {
    if (npm.exitCode !== null) throw new Error(`npm start exited with ${npm.exitCode}:\n${output}`);
    return fetch(`http://127.0.0.1:${port}/health`).then(
      (response) => (response.ok ? true : undefined),
      () => undefined,
    );
  });
  return { npm, url, dbPath, instanceId, output: () => output };
}

/** Whether any process of the group is left. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function storedRun(dbPath: string, id: string): { status: string; failure_reason: string | null } | undefined {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare('SELECT status, failure_reason FROM runs WHERE id = ?').get(id) as
      { status: string; failure_reason: string | null } | undefined;
  } finally {
    db.close();
  }
}

/** Starts bosun, a `sleep 120` run, sends `signal` to `target`, and checks the stop. */
async function stopWhileRunning(signal: NodeJS.Signals, target: 'group' | 'npm'): Promise<void> {
  const bosun = await npmStart();
  const pgid = bosun.npm.pid!;
  const exited = once(bosun.npm, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  try {
    const { agentId } = await startRun(bosun.url, { steps: ['sleep 120'] });
    // RUNNING is set as the run leaves the line; its sandbox is created (or taken from the warm
    // pool, which `npm start` keeps) right after, and recorded on the run. Counting the instance's
    // containers would also count the pool's, refilled at its own pace.
    await waitForRun(bosun.url, agentId, (run) => run.status === 'RUNNING' && run.containerId !== null, `run ${agentId} runs in its sandbox`, 30_000);

    const signalledAt = performance.now();
    process.kill(target === 'group' ? -pgid : pgid, signal);
    const [code, bySignal] = await exited;
    while (groupAlive(pgid) && performance.now() - signalledAt < SHUTDOWN_GRACE_MS + 10_000) await pause(50);
    const elapsedMs = performance.now() - signalledAt;

    const context = `${signal} to ${target}, ${Math.round(elapsedMs)} ms:\n${bosun.output()}`;
    expect(groupAlive(pgid), context).toBe(false);
    expect(elapsedMs, context).toBeLessThan(SHUTDOWN_GRACE_MS + 5000);
    expect(bosun.output(), context).toContain('signal received: stopping gracefully');
    expect(bosun.output(), context).not.toContain('exiting at once');
    expect(bosun.output(), context).toContain('"msg":"shut down"');
    // npm ends with bosun's exit code (0), or re-raises the signal it got itself.
    expect([code, bySignal], context).toSatisfy(([c, s]: [number | null, string | null]) => c === 0 || s === signal);
    expect(storedRun(bosun.dbPath, agentId), context).toEqual({ status: 'FAILED', failure_reason: 'INTERRUPTED' });
    expect(await containersOf(docker, bosun.instanceId), context).toEqual([]);
  } finally {
    if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
  }
}

it('npm start serves the compiled build, dashboard files included, and stops on one SIGTERM', async () => {
  const bosun = await npmStart();
  const pgid = bosun.npm.pid!;
  const exited = once(bosun.npm, 'exit');
  try {
    const origin = new URL(bosun.url).origin;
    // The page, one of its modules (copied into dist/ by the build) and a vendor file (from node_modules).
    for (const path of ['/', '/dashboard/js/main.js', '/dashboard/vendor/uplot/uPlot.esm.js']) {
      const response = await fetch(`${origin}${path}`);
      expect(response.status, path).toBe(200);
      expect((await response.text()).length, path).toBeGreaterThan(100);
    }
    const { stdout } = await promisify(execFile)('ps', ['-o', 'args=', '-g', String(pgid)]);
    expect(stdout).toMatch(/^node --max-semi-space-size=\d+ dist\/main\.js$/m);
    expect(stdout).not.toMatch(/tsx|\bsh -c\b|bash/);
    process.kill(-pgid, 'SIGTERM');
    await exited;
  } finally {
    if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
  }
}, 90_000);

describe('npm start under the signals of a terminal and a supervisor', () => {
  for (let round = 1; round <= ROUNDS; round += 1) {
    it(`Ctrl-C (SIGINT to the process group), try ${round}: one graceful stop`, () => stopWhileRunning('SIGINT', 'group'), 90_000);
    it(`SIGTERM to the process group, try ${round}: one graceful stop`, () => stopWhileRunning('SIGTERM', 'group'), 90_000);
  }

  it('SIGTERM to npm alone: npm passes it on, and bosun stops gracefully', () => stopWhileRunning('SIGTERM', 'npm'), 90_000);
});
