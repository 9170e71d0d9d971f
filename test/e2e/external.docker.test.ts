/**
 * External runs end to end on the real engine over HTTP GraphQL: the lifecycle (set-up steps,
 * finishAgent, idleness, cancel, a container that dies while the run waits), which run takes
 * calls, and exec (output, stdin, env, cwd, timeouts, a client that goes away, concurrent
 * commands, the 9th command, large and invalid output), each command a recorded step with its
 * log lines.
 */
import { request } from 'node:http';
import type Docker from 'dockerode';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { containersOf, createTestDocker } from '../helpers/docker.js';
import { gql, startRun, waitForContainer, waitForFinal, waitForRun } from '../helpers/e2e.js';
import { EXEC, FINISH, call, exec, execErrors, firstError, startExternal } from '../helpers/external-e2e.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

let docker: Docker;
let app: TestApp | undefined;

beforeAll(() => {
  docker = createTestDocker();
});

afterEach(async () => {
  if (app) expect(await app.close(), 'containers left behind by the app').toBe(0);
  app = undefined;
});

async function start(env: Record<string, string> = {}): Promise<TestApp> {
  app = await startTestApp({ MAX_CONCURRENT_AGENTS: '2', ...env });
  return app;
}

interface RunWithSteps {
  readonly status: string;
  readonly steps: { index: number; command: string; exitCode: number | null }[];
  readonly logs: { stream: string; step: number | null; line: string }[];
}

const STEPS_AND_LOGS = 'steps { index command exitCode } logs { stream step line }';

const runWithSteps = async (url: string, id: string): Promise<RunWithSteps> =>
  (
    await gql<{ agentRun: RunWithSteps }>(
      url,
      'query ($id: ID!) { agentRun(id: $id) { status steps { index command exitCode } logs { stream step line } } }',
      {
        id,
      },
    )
  ).agentRun;

describe('the lifecycle', () => {
  it('runs set-up steps, then commands as steps with their output, and succeeds on finishAgent(0)', async () => {
    const { url } = await start();
    const id = await startExternal(url, { steps: ['echo set up > /workspace/ready'] });
    const result = await exec(url, id, 'cat /workspace/ready; echo to-stderr >&2; exit 3');
    expect(result).toMatchObject({ exitCode: 3, stdout: 'set up\n', stderr: 'to-stderr\n', truncated: false, timedOut: false });
    expect(result.step).toEqual({
      index: 2,
      command: 'cat /workspace/ready; echo to-stderr >&2; exit 3',
      exitCode: 3,
      startedAt: expect.any(String) as string,
      finishedAt: expect.any(String) as string,
    });
    // A failing command does not end the run.
    expect((await runWithSteps(url, id)).status).toBe('RUNNING');
    const { finishAgent } = await gql<{ finishAgent: Record<string, unknown> }>(url, FINISH, { id, exitCode: 0 });
    expect(finishAgent).toMatchObject({ status: 'SUCCEEDED', failureReason: null, exitCode: 0 });
    const run = await runWithSteps(url, id);
    expect(run.steps.map((step) => [step.index, step.exitCode])).toEqual([
      [1, 0],
      [2, 3],
    ]);
    expect(run.logs).toEqual(
      expect.arrayContaining([
        { stream: 'STDOUT', step: 2, line: 'set up' },
        { stream: 'STDERR', step: 2, line: 'to-stderr' },
        { stream: 'SYSTEM', step: 2, line: 'step 2 exited 3' },
      ]),
    );
    expect(await containersOf(docker, app!.app.instanceId, id)).toEqual([]);
  });

  it('fails NON_ZERO_EXIT with the given error; a second finish and later calls are INVALID_STATE', async () => {
    const { url } = await start();
    const id = await startExternal(url);
    const { finishAgent } = await gql<{ finishAgent: Record<string, unknown> }>(url, FINISH, { id, exitCode: 4, error: 'gave up' });
    expect(finishAgent).toMatchObject({ status: 'FAILED', failureReason: 'NON_ZERO_EXIT', exitCode: 4, error: 'gave up' });
    expect(firstError((await call(url, FINISH, { id, exitCode: 0 })).errors)).toMatchObject({
      code: 'INVALID_STATE',
      message: `run ${id} has finished (FAILED / NON_ZERO_EXIT)`,
    });
    expect(firstError(await execErrors(url, id, 'true'))).toMatchObject({ code: 'INVALID_STATE' });
  });

  it('ends TIMED_OUT / IDLE_TIMEOUT after idleTimeoutMs without a call, its container gone', async () => {
    const { url } = await start();
    const id = await startExternal(url, { idleTimeoutMs: 1500 });
    await exec(url, id, 'true');
    const final = await waitForFinal(url, id, 20_000);
    expect(final).toMatchObject({ status: 'TIMED_OUT', failureReason: 'IDLE_TIMEOUT', error: 'no command or file call for 1500 ms' });
    expect(await containersOf(docker, app!.app.instanceId, id)).toEqual([]);
    const { agentRun } = await gql<{ agentRun: { idleTimeoutMs: number; idleSince: string | null } }>(
      url,
      'query ($id: ID!) { agentRun(id: $id) { idleTimeoutMs idleSince } }',
      { id },
    );
    expect(agentRun).toEqual({ idleTimeoutMs: 1500, idleSince: null });
  });

  it('is cancelled during an exec: the exec answers why, the run ends CANCELLED', async () => {
    const { url } = await start();
    const id = await startExternal(url);
    const running = call(url, EXEC, { id, command: 'sleep 60' });
    await waitForRun<RunWithSteps>(
      url,
      id,
      (run) => run.steps.length === 1,
      'the command runs',
      20_000,
      'steps { index command exitCode } logs { stream step line }',
    );
    await gql(url, 'mutation ($id: ID!) { cancelAgent(id: $id) { status } }', { id });
    expect(firstError((await running).errors)).toEqual({ code: 'INVALID_STATE', message: `run ${id} was cancelled while this call ran` });
    expect(await waitForFinal(url, id)).toMatchObject({ status: 'CANCELLED' });
  });

  it('fails SANDBOX_ERROR within moments when its container is killed while it waits for calls', async () => {
    const { url } = await start();
    // Waiting for calls for 5 minutes: only the watch on its container can end it sooner.
    const id = await startExternal(url, { idleTimeoutMs: 300_000 });
    const containerId = await waitForContainer(docker, app!, id);
    await docker.getContainer(containerId).kill();
    const final = await waitForFinal<{ status: string; failureReason: string | null; error: string | null }>(url, id, 30_000, 'failureReason error');
    expect(final).toMatchObject({ status: 'FAILED', failureReason: 'SANDBOX_ERROR' });
    expect(final.error).toMatch(/^the sandbox container stopped unexpectedly: the container bosun-\S+ exited with code 137$/);
    expect(firstError((await call(url, EXEC, { id, command: 'true' })).errors)).toMatchObject({ code: 'INVALID_STATE' });
    expect(await containersOf(docker, app!.app.instanceId, id)).toEqual([]);
  });
});

describe('which run takes calls', () => {
  it('NOT_FOUND for an unknown run, INVALID_STATE with the position for a queued one, INVALID_STATE for a shell run', async () => {
    const { url } = await start({ MAX_CONCURRENT_AGENTS: '1' });
    expect(firstError(await execErrors(url, 'no-such-run', 'true'))).toMatchObject({ code: 'NOT_FOUND' });
    const shell = await startRun(url, { steps: ['sleep 60'] });
    await waitForRun(url, shell.agentId, (run) => run.status === 'RUNNING', 'the shell run runs');
    const queued = await startRun(url, { agent: 'external' });
    expect(firstError(await execErrors(url, queued.agentId, 'true'))).toEqual({
      code: 'INVALID_STATE',
      message: `run ${queued.agentId} is QUEUED at position 1; it takes calls once it is RUNNING`,
    });
    expect(firstError((await call(url, FINISH, { id: shell.agentId, exitCode: 0 })).errors)).toMatchObject({
      code: 'INVALID_STATE',
      message: expect.stringMatching(/runs agent "shell", which takes no calls/) as string,
    });
    expect(firstError((await call(url, FINISH, { id: queued.agentId, exitCode: 0 })).errors)).toMatchObject({ code: 'INVALID_STATE' });
    // Once the line moves, the queued run takes calls.
    await gql(url, 'mutation ($id: ID!) { cancelAgent(id: $id) { status } }', { id: shell.agentId });
    await waitForRun<{ status: string; idleSince: string | null }>(
      url,
      queued.agentId,
      (run) => run.idleSince !== null,
      'the external run takes calls',
      30_000,
      'idleSince',
    );
    expect((await exec(url, queued.agentId, 'echo now')).stdout).toBe('now\n');
    await gql(url, FINISH, { id: queued.agentId, exitCode: 0 });
  });

  it('makes a call that comes during the set-up steps wait for them', async () => {
    const { url } = await start();
    const { agentId: id } = await startRun(url, { agent: 'external', steps: ['sleep 1', 'echo done > /tmp/setup'] });
    const result = await exec(url, id, 'cat /tmp/setup');
    expect(result).toMatchObject({ stdout: 'done\n', step: { index: 3 } });
    await gql(url, FINISH, { id, exitCode: 0 });
  });
});

describe('exec', () => {
  it('writes stdin, adds env, runs in cwd; refuses BOSUN_ names', async () => {
    const { url } = await start();
    const id = await startExternal(url);
    expect((await exec(url, id, 'cat', { stdin: 'from stdin' })).stdout).toBe('from stdin');
    expect(await exec(url, id, 'echo out; echo err >&2', { timeoutMs: 5000 })).toMatchObject({
      stdout: 'out\n',
      stderr: 'err\n',
      timedOut: false,
      exitCode: 0,
    });
    expect((await exec(url, id, 'pwd; echo "$GREETING $BOSUN_AGENT_ID"', { cwd: '/tmp', env: [{ name: 'GREETING', value: 'hi' }] })).stdout).toBe(
      `/tmp\nhi ${id}\n`,
    );
    expect(firstError(await execErrors(url, id, 'true', { env: [{ name: 'BOSUN_AGENT_ID', value: 'forged' }] }))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'options.env[0].name',
    });
    await gql(url, FINISH, { id, exitCode: 0 });
  });

  it('ends a command at its timeout with timedOut, and the run goes on', async () => {
    const { url } = await start();
    const id = await startExternal(url);
    const result = await exec(url, id, 'echo started; sleep 60', { timeoutMs: 1000 });
    // The timeout's wrapper reports its pid on stderr; that line is not the command's.
    expect(result).toMatchObject({ timedOut: true, stdout: 'started\n', stderr: '' });
    expect(result.exitCode).not.toBe(0);
    expect(result.durationMs).toBeGreaterThanOrEqual(1000);
    expect((await exec(url, id, 'echo still here')).stdout).toBe('still here\n');
    expect((await runWithSteps(url, id)).status).toBe('RUNNING');
    await gql(url, FINISH, { id, exitCode: 0 });
  });

  it('ends a command whose HTTP client went away, records its step as ended, and the run goes on', async () => {
    const { url } = await start();
    const id = await startExternal(url);
    // A raw HTTP request, so that the test owns the socket it destroys.
    const body = JSON.stringify({ query: EXEC, variables: { id, command: 'sleep 30', options: { timeoutMs: 60_000 } } });
    const target = new URL(url);
    const client = request({
      host: target.hostname,
      port: target.port,
      path: target.pathname,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', () => undefined);
    client.end(body);
    await waitForRun<RunWithSteps>(url, id, (run) => run.steps.length === 1, 'the command runs', 20_000, STEPS_AND_LOGS);
    // Running: the command is in the sandbox.
    expect((await exec(url, id, 'ps -o args')).stdout.split('\n')).toContain('sleep 30');
    client.destroy();
    await closed;

    const run = await waitForRun<RunWithSteps>(
      url,
      id,
      (current) => current.steps[0]?.exitCode !== null,
      'the step of the client that went away is recorded as ended',
      20_000,
      STEPS_AND_LOGS,
    );
    expect(run.status).toBe('RUNNING');
    // SIGTERM ended it: the exit code the signal left.
    expect(run.steps[0]).toEqual({ index: 1, command: 'sleep 30', exitCode: 143 });
    expect(run.logs).toContainEqual({ stream: 'SYSTEM', step: 1, line: 'step 1 stopped: the client went away (exit 143)' });
    // Its process is gone; the sandbox takes calls.
    expect((await exec(url, id, 'ps -o args')).stdout.split('\n')).not.toContain('sleep 30');
    expect(await gql(url, FINISH, { id, exitCode: 0 })).toMatchObject({ finishAgent: { status: 'SUCCEEDED' } });
  });

  it('runs a command while another runs; a 9th at once is RATE_LIMITED', async () => {
    const { url } = await start();
    const id = await startExternal(url, { pidsLimit: 256 });
    const slow = call(url, EXEC, { id, command: 'sleep 60', options: { timeoutMs: 60_000 } });
    await waitForRun<RunWithSteps>(
      url,
      id,
      (run) => run.steps.length === 1,
      'the first command runs',
      20_000,
      'steps { index command exitCode } logs { stream step line }',
    );
    expect((await exec(url, id, 'echo quick')).stdout).toBe('quick\n');
    const more = Array.from({ length: 7 }, () => call(url, EXEC, { id, command: 'sleep 60', options: { timeoutMs: 60_000 } }));
    await waitForRun<RunWithSteps>(
      url,
      id,
      (run) => run.steps.filter((step) => step.exitCode === null).length === 8,
      '8 commands run',
      20_000,
      'steps { index command exitCode } logs { stream step line }',
    );
    expect(firstError(await execErrors(url, id, 'true'))).toMatchObject({
      code: 'RATE_LIMITED',
      message: expect.stringMatching(/has 8 commands running/) as string,
    });
    // Finishing stops them; each says why.
    await gql(url, FINISH, { id, exitCode: 0 });
    for (const running of [slow, ...more])
      expect(firstError((await running).errors)).toMatchObject({
        code: 'INVALID_STATE',
        message: expect.stringMatching(/was finished by finishAgent/) as string,
      });
  });

  it('returns the last 1 MiB of a larger output with truncated, and replaces invalid UTF-8', async () => {
    const { url } = await start();
    const id = await startExternal(url);
    const big = await exec(url, id, "head -c 3000000 /dev/zero | tr '\\0' a; echo; echo end");
    expect(big.truncated).toBe(true);
    expect(Buffer.byteLength(big.stdout)).toBe(1024 * 1024);
    expect(big.stdout.endsWith('a\nend\n')).toBe(true);
    const invalid = await exec(url, id, "printf 'a\\377b'");
    expect(invalid).toMatchObject({ stdout: 'a\uFFFDb', truncated: false });
    const long = await exec(url, id, "head -c 40000 /dev/zero | tr '\\0' x");
    // One long line comes back as it was printed (the log cuts it; the reply does not).
    expect(long.stdout).toBe('x'.repeat(40_000));
    await gql(url, FINISH, { id, exitCode: 0 });
  });
});
