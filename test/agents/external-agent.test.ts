/**
 * The external agent's lifecycle with the fake sandbox: set-up steps, then calls until
 * finishAgent, idleness, cancel, the deadline or a sandbox fault ends the run, each with its
 * final status; the sandbox is gone every time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SandboxError } from '../../src/sandbox/sandbox-errors.js';
import { startExternalHarness, type ExternalHarness } from '../helpers/external-harness.js';
import { Gate } from '../helpers/fake-sandbox.js';

let harness: ExternalHarness | undefined;
afterEach(async () => {
  await harness?.[Symbol.asyncDispose]();
  harness = undefined;
});

describe('the external agent', () => {
  it('runs its set-up steps, takes commands as steps, and succeeds on finishAgent(0)', async () => {
    harness = startExternalHarness();
    harness.provider.on('git init', { stdout: ['initialised'] }).on('npm test', { stdout: ['1 failing'], exitCode: 1 });
    const id = await harness.start({ steps: ['git init'] });
    await harness.opened(id);
    const failing = await harness.external.exec(id, 'npm test', null);
    expect(failing).toMatchObject({ exitCode: 1, stdout: '1 failing\n', stderr: '', truncated: false, timedOut: false });
    expect(failing.step).toMatchObject({ index: 2, command: 'npm test', exitCode: 1 });
    // A failing command does not end the run: the agent decides.
    expect(await harness.runs.get(id)).toMatchObject({ status: 'RUNNING' });
    const final = await harness.external.finish(id, 0, null);
    expect(final).toMatchObject({ status: 'SUCCEEDED', failureReason: null, error: null, exitCode: 0 });
    expect(final.steps.map((step) => [step.index, step.command, step.exitCode])).toEqual([
      [1, 'git init', 0],
      [2, 'npm test', 1],
    ]);
    expect(await harness.logs(id)).toEqual(
      expect.arrayContaining(['STDOUT:1:initialised', 'SYSTEM:2:step 2: npm test', 'STDOUT:2:1 failing', 'SYSTEM:2:step 2 exited 1']),
    );
    expect(harness.provider.created[0]!.disposed).toBe(true);
    expect(harness.sessions.size).toBe(0);
  });

  it('fails NON_ZERO_EXIT with the error finishAgent gives', async () => {
    harness = startExternalHarness();
    const id = await harness.start();
    await harness.opened(id);
    expect(await harness.external.finish(id, 2, 'could not fix the test')).toMatchObject({
      status: 'FAILED',
      failureReason: 'NON_ZERO_EXIT',
      exitCode: 2,
      error: 'could not fix the test',
    });
  });

  it('fails as the shell agent does when a set-up step fails, and takes no calls', async () => {
    harness = startExternalHarness();
    harness.provider.on('exit 3', { exitCode: 3 });
    const id = await harness.start({ steps: ['exit 3', 'echo never'] });
    const final = await harness.final(id);
    expect(final).toMatchObject({ status: 'FAILED', failureReason: 'NON_ZERO_EXIT', exitCode: 3, error: 'set-up step 1 exited 3' });
    expect(harness.provider.created[0]!.commands).toEqual(['exit 3']);
    await expect(harness.external.exec(id, 'true', null)).rejects.toMatchObject({ code: 'INVALID_STATE' });
  });

  it('ends TIMED_OUT / IDLE_TIMEOUT after idleTimeoutMs without a call', async () => {
    harness = startExternalHarness();
    const id = await harness.start({ idleTimeoutMs: 1000 });
    await harness.opened(id);
    await harness.external.exec(id, 'true', null);
    const final = await harness.final(id);
    expect(final).toMatchObject({
      status: 'TIMED_OUT',
      failureReason: 'IDLE_TIMEOUT',
      error: 'no command or file call for 1000 ms',
      exitCode: null,
    });
    expect(await harness.logs(id)).toContain('SYSTEM:-:killed: no command or file call for 1000 ms');
    expect(harness.provider.created[0]!.disposed).toBe(true);
  });

  it('is cancelled while a command runs: the call says so, the run ends CANCELLED', async () => {
    harness = startExternalHarness();
    harness.provider.on('sleep 600', { hang: true });
    const id = await harness.start();
    await harness.opened(id);
    const running = harness.external.exec(id, 'sleep 600', null).catch((error: unknown) => error);
    await harness.status(id, (run) => run.steps.length === 1);
    expect(await harness.runs.cancel(id)).toMatchObject({ status: 'CANCELLED' });
    expect(await running).toMatchObject({ code: 'INVALID_STATE', message: `run ${id} was cancelled while this call ran` });
    // Its processes were stopped (the sandbox kept for the artifacts), then it was removed.
    expect(harness.provider.created[0]!.lifecycle).toEqual(['stopProcesses', 'dispose']);
  });

  it('reaches its deadline while a command runs: the call says so, the run ends RUN_TIMEOUT', async () => {
    harness = startExternalHarness();
    harness.provider.on('sleep 600', { hang: true });
    const id = await harness.start({ timeoutMs: 1000 });
    await harness.opened(id);
    const error = await harness.external.exec(id, 'sleep 600', null).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'INVALID_STATE', message: `run ${id} reached its deadline (timeoutMs 1000) while this call ran` });
    expect(await harness.final(id)).toMatchObject({ status: 'TIMED_OUT', failureReason: 'RUN_TIMEOUT' });
  });

  it('fails SANDBOX_ERROR when its sandbox is lost under a call', async () => {
    harness = startExternalHarness();
    harness.provider.on('boom', { error: new SandboxError('CONTAINER_GONE', 'the container died') });
    const id = await harness.start();
    await harness.opened(id);
    await expect(harness.external.exec(id, 'boom', null)).rejects.toMatchObject({ code: 'SANDBOX_ERROR' });
    expect(await harness.final(id)).toMatchObject({ status: 'FAILED', failureReason: 'SANDBOX_ERROR' });
  });

  it('fails SANDBOX_ERROR at once when its sandbox stops while it waits for calls', async () => {
    harness = startExternalHarness({ idleTimeoutMs: 600_000 });
    const id = await harness.start();
    await harness.opened(id);
    const sandbox = harness.provider.created[0]!;
    expect(sandbox.exitWatchers).toBe(1);
    sandbox.die('the container bosun-x exited with code 137');
    expect(await harness.final(id)).toMatchObject({
      status: 'FAILED',
      failureReason: 'SANDBOX_ERROR',
      error: 'the sandbox container stopped unexpectedly: the container bosun-x exited with code 137',
    });
    await expect(harness.external.exec(id, 'true', null)).rejects.toMatchObject({ code: 'INVALID_STATE' });
    expect(sandbox.lifecycle).toEqual(['dispose']);
    expect(sandbox.exitWatchers).toBe(0);
  });

  it('answers a call in flight when its sandbox stops: SANDBOX_ERROR, saying so', async () => {
    harness = startExternalHarness();
    const held = new Gate();
    harness.files.heldCommands.set('held', held);
    const id = await harness.start();
    await harness.opened(id);
    const call = harness.external.exec(id, 'held', null).catch((error: unknown) => error);
    await harness.status(id, (run) => run.steps.length === 1);
    harness.provider.created[0]!.die('the container bosun-x exited with code 137');
    expect(await call).toMatchObject({
      code: 'SANDBOX_ERROR',
      message: 'the sandbox container stopped unexpectedly: the container bosun-x exited with code 137',
    });
    expect(await harness.final(id)).toMatchObject({ status: 'FAILED', failureReason: 'SANDBOX_ERROR' });
  });

  it('ends a command whose caller went away, records its step, and goes on', async () => {
    harness = startExternalHarness();
    harness.provider.on('sleep 600', { hang: true });
    const id = await harness.start();
    await harness.opened(id);
    const client = new AbortController();
    const call = harness.external.exec(id, 'sleep 600', null, client.signal);
    await harness.status(id, (run) => run.steps.length === 1);
    client.abort();
    expect(await call).toMatchObject({ exitCode: 143, step: { index: 1, exitCode: 143 } });
    const run = (await harness.runs.get(id))!;
    expect(run).toMatchObject({ status: 'RUNNING' });
    expect(run.steps[0]).toMatchObject({ exitCode: 143, finishedAt: expect.any(Date) as unknown });
    expect(await harness.logs(id)).toContain('SYSTEM:1:step 1 stopped: the client went away (exit 143)');
    expect(harness.provider.created[0]!.runningCommands).toBe(0);
    expect(harness.external.idleSince(id)).not.toBeNull();
    await harness.external.finish(id, 0, null);
  });

  it('stops at shutdown (INTERRUPTED), ending a call that waits for its set-up', async () => {
    harness = startExternalHarness();
    const setUp = new Gate();
    harness.files.heldCommands.set('slow set-up', setUp);
    const id = await harness.start({ steps: ['slow set-up'] });
    await harness.status(id, (run) => run.steps.length === 1);
    const waiting = harness.external.exec(id, 'true', null).catch((error: unknown) => error);
    await harness.runs.shutdown();
    expect(await harness.runs.get(id)).toMatchObject({ status: 'FAILED', failureReason: 'INTERRUPTED' });
    // Told as soon as its agent gave up, while the sandbox was still being removed, or after.
    expect(await waiting).toMatchObject({
      code: 'INVALID_STATE',
      message: expect.stringMatching(/ended before it took calls|has finished \(FAILED \/ INTERRUPTED\)/) as string,
    });
    expect(harness.sessions.waiting).toBe(0);
  });
});
