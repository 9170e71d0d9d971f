/**
 * Which run takes calls, and how the calls behave, with the fake sandbox: unknown, queued,
 * other-agent, set-up, finished runs; exec's timeout, output, concurrency and recording; files;
 * finishing twice; idleness reported live.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BosunError } from '../../../src/errors.js';
import { startExternalHarness, type ExternalHarness } from '../../helpers/external-harness.js';
import { Gate } from '../../helpers/fake-sandbox.js';

let harness: ExternalHarness | undefined;
afterEach(async () => {
  await harness?.[Symbol.asyncDispose]();
  harness = undefined;
});

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (error: unknown) => (error instanceof BosunError ? `${error.code}: ${error.message}` : String(error)),
  );

describe('which run takes calls', () => {
  it('NOT_FOUND for an unknown run', async () => {
    harness = startExternalHarness();
    expect(await codeOf(harness.external.exec('nope', 'true', null))).toBe('NOT_FOUND: agentId: no agent run with id "nope"');
    expect(await codeOf(harness.external.finish('nope', 0, null))).toMatch(/^NOT_FOUND/);
  });

  it('INVALID_STATE with its position for a queued run', async () => {
    harness = startExternalHarness({ maxConcurrency: 1 });
    harness.provider.on('sleep 600', { hang: true });
    await harness.start({ agent: 'shell', steps: ['sleep 600'] });
    const queued = await harness.start();
    expect(await codeOf(harness.external.exec(queued, 'true', null))).toBe(
      `INVALID_STATE: run ${queued} is QUEUED at position 1; it takes calls once it is RUNNING`,
    );
    expect(await codeOf(harness.external.finish(queued, 0, null))).toMatch(/is QUEUED at position 1/);
  });

  it('INVALID_STATE for a run of another agent, finishAgent included', async () => {
    harness = startExternalHarness();
    harness.provider.on('sleep 600', { hang: true });
    const shell = await harness.start({ agent: 'shell', steps: ['sleep 600'] });
    await harness.status(shell, (run) => run.status === 'RUNNING');
    expect(await codeOf(harness.external.finish(shell, 0, null))).toBe(
      `INVALID_STATE: run ${shell} runs agent "shell", which takes no calls; only external runs (agent "external") do`,
    );
    expect(await codeOf(harness.external.listFiles(shell, '/workspace'))).toMatch(/^INVALID_STATE/);
  });

  it('refuses idleTimeoutMs for another agent at start', async () => {
    harness = startExternalHarness();
    await expect(harness.start({ agent: 'shell', steps: ['true'], idleTimeoutMs: 5000 })).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'input.config.idleTimeoutMs',
    });
    await expect(harness.start({ idleTimeoutMs: 10 })).rejects.toMatchObject({ field: 'input.config.idleTimeoutMs' });
  });

  it('gives an external run the default idle timeout', async () => {
    harness = startExternalHarness({ idleTimeoutMs: 123_000 });
    const id = await harness.start();
    expect((await harness.runs.get(id))!.config.idleTimeoutMs).toBe(123_000);
  });

  it('makes a call wait for the set-up steps, then runs it', async () => {
    const h = (harness = startExternalHarness());
    const setUp = new Gate();
    harness.files.heldCommands.set('npm ci', setUp);
    const id = await harness.start({ steps: ['npm ci'] });
    await harness.status(id, (run) => run.steps.length === 1);
    const call = harness.external.exec(id, 'echo after', null);
    const list = harness.external.listFiles(id, '/workspace').catch((error: unknown) => error);
    // Both wait for the session (once the run is read: the store answers asynchronously).
    await vi.waitFor(() => expect(h.sessions.waiting).toBe(2));
    setUp.open();
    expect((await call).step.index).toBe(2);
    expect(await list).toMatchObject({ code: 'NOT_FOUND' });
    expect(harness.sessions.waiting).toBe(0);
  });

  it('stops waiting for the set-up when its caller goes away', async () => {
    harness = startExternalHarness();
    harness.files.heldCommands.set('npm ci', new Gate());
    const id = await harness.start({ steps: ['npm ci'] });
    await harness.status(id, (run) => run.steps.length === 1);
    const caller = new AbortController();
    const call = harness.external.exec(id, 'true', null, caller.signal);
    caller.abort(new Error('client gone'));
    await expect(call).rejects.toThrow('client gone');
    expect(harness.sessions.waiting).toBe(0);
  });

  it('checks the input before the run: a bad path is BAD_USER_INPUT even for an unknown run', async () => {
    harness = startExternalHarness();
    expect(await codeOf(harness.external.readFile('nope', '/etc/passwd'))).toMatch(/^BAD_USER_INPUT: path: /);
  });
});

describe('finishing', () => {
  it('INVALID_STATE for a second finish, and for calls after it', async () => {
    harness = startExternalHarness();
    const id = await harness.start();
    await harness.opened(id);
    await harness.external.finish(id, 0, null);
    expect(await codeOf(harness.external.finish(id, 0, null))).toBe(`INVALID_STATE: run ${id} has finished (SUCCEEDED)`);
    expect(await codeOf(harness.external.exec(id, 'true', null))).toBe(`INVALID_STATE: run ${id} has finished (SUCCEEDED)`);
  });

  it('answers a call that comes while the run is being torn down with how it ended', async () => {
    harness = startExternalHarness();
    const id = await harness.start();
    await harness.opened(id);
    const sandbox = harness.provider.created[0]!;
    const removal = new Gate();
    const dispose = sandbox.dispose.bind(sandbox);
    sandbox.dispose = async () => {
      await removal.opened;
      return dispose();
    };
    const finishing = harness.external.finish(id, 0, null);
    while (harness.sessions.get(id)?.state !== 'ended') await harness.sessions.nextChange(id);
    expect(await codeOf(harness.external.finish(id, 1, null))).toBe(
      `INVALID_STATE: run ${id} was finished by finishAgent with exit code 0; it takes no more calls`,
    );
    removal.open();
    expect(await finishing).toMatchObject({ status: 'SUCCEEDED' });
  });
});

describe('exec', () => {
  it('ends a command at its timeout; the run goes on', async () => {
    harness = startExternalHarness();
    harness.provider.on('sleep 600', { hang: true });
    const id = await harness.start();
    await harness.opened(id);
    const outcome = await harness.external.exec(id, 'sleep 600', { timeoutMs: 20 });
    expect(outcome).toMatchObject({ timedOut: true, exitCode: 143 });
    expect(await harness.logs(id)).toContain(`SYSTEM:${outcome.step.index}:step ${outcome.step.index} timed out after 20 ms (exit 143)`);
    expect((await harness.runs.get(id))!.status).toBe('RUNNING');
    expect((await harness.external.exec(id, 'true', null)).exitCode).toBe(0);
  });

  it('passes cwd, env, stdin and the timeout to the sandbox, with the defaults', async () => {
    harness = startExternalHarness();
    const id = await harness.start();
    await harness.opened(id);
    await harness.external.exec(id, 'cat', { cwd: '/tmp', env: [{ name: 'A', value: '1' }], stdin: 'input', timeoutMs: 5000 });
    await harness.external.exec(id, 'pwd', null);
    const [first, second] = harness.provider.created[0]!.execs;
    expect(first!.options).toMatchObject({ cwd: '/tmp', env: { A: '1' }, stdin: 'input', timeoutMs: 5000 });
    expect(second!.options).toMatchObject({ cwd: '/workspace', env: {}, timeoutMs: 60_000 });
    expect(second!.options.stdin).toBeUndefined();
  });

  it('runs commands side by side, each its own step with its own output', async () => {
    harness = startExternalHarness();
    harness.provider.on('echo a', { stdout: ['a'] }).on('echo b', { stdout: ['b'] });
    const slow = new Gate();
    harness.files.heldCommands.set('echo a', slow);
    const id = await harness.start();
    await harness.opened(id);
    const first = harness.external.exec(id, 'echo a', null);
    await harness.status(id, (run) => run.steps.length === 1);
    const second = await harness.external.exec(id, 'echo b', null);
    slow.open();
    expect([(await first).stdout, second.stdout]).toEqual(['a\n', 'b\n']);
    expect([(await first).step.index, second.step.index]).toEqual([1, 2]);
  });
});

describe('files', () => {
  it('writes, reads and lists files; content is null for bytes that are not UTF-8', async () => {
    harness = startExternalHarness();
    const id = await harness.start();
    await harness.opened(id);
    const written = await harness.external.writeFiles(id, [
      { path: '/workspace/src/a.txt', content: 'hello' },
      { path: '/workspace/bin', contentBase64: Buffer.from([0xff, 0xfe, 0]).toString('base64'), mode: 0o755 },
    ]);
    expect(written.map((file) => [file.path, file.mode])).toEqual([
      ['/workspace/src/a.txt', 0o644],
      ['/workspace/bin', 0o755],
    ]);
    expect(await harness.external.readFile(id, '/workspace/src/a.txt')).toEqual({
      path: '/workspace/src/a.txt',
      sizeBytes: 5,
      content: 'hello',
      contentBase64: Buffer.from('hello').toString('base64'),
      truncated: false,
    });
    expect(await harness.external.readFile(id, '/workspace/bin')).toMatchObject({ content: null, contentBase64: '//4A' });
    expect((await harness.external.listFiles(id, '/workspace')).map((file) => file.path)).toEqual(['/workspace/src/a.txt', '/workspace/bin']);
    expect(await harness.logs(id)).toContain('SYSTEM:-:wrote 2 files: /workspace/src/a.txt, /workspace/bin');
    expect(await codeOf(harness.external.readFile(id, '/workspace/missing'))).toMatch(/^NOT_FOUND/);
  });

  it('extracts an upload into /workspace by default, within the size limits', async () => {
    harness = startExternalHarness();
    const id = await harness.start();
    await harness.opened(id);
    harness.files.extracted = [{ path: '/workspace/repo', type: 'DIRECTORY', sizeBytes: 0, mode: 0o755 }];
    const archive = new Blob([new Uint8Array(10)]);
    expect(await harness.external.uploadArchive(id, archive, null)).toEqual(harness.files.extracted);
    expect(harness.files.archives[0]).toMatchObject({ path: '/workspace', options: { maxBytes: 8 * 1024 * 1024 } });
    expect(await codeOf(harness.external.uploadArchive(id, new Blob([new Uint8Array(1024 * 1024 + 1)]), '/tmp'))).toMatch(
      /^BAD_USER_INPUT: archive: expected an archive of at most 1048576 bytes/,
    );
    expect(await codeOf(harness.external.uploadArchive(id, archive, '/workspace/../etc'))).toMatch(/^BAD_USER_INPUT: path:/);
  });
});

describe('idleness as the API sees it', () => {
  it('reports idleSince while waiting, null during a call, and announces each change', async () => {
    harness = startExternalHarness();
    const id = await harness.start();
    await harness.opened(id);
    expect(harness.external.idleSince(id)).toBeInstanceOf(Date);
    const held = new Gate();
    harness.files.fileGate = held;
    let announced = 0;
    const snapshots = new Set<object>();
    harness.runs.events.on('run-updated', (run) => {
      if (run.id !== id) return;
      announced += 1;
      snapshots.add(run);
    });
    const listing = harness.external.listFiles(id, '/workspace').catch(() => undefined);
    await harness.status(id, () => harness!.external.idleSince(id) === null);
    held.open();
    await listing;
    expect(harness.external.idleSince(id)).toBeInstanceOf(Date);
    expect(announced).toBe(2);
    // Each announcement is a new object: subscriptions share one execution per event object, so a
    // snapshot emitted again would be answered with what was true the first time (busy).
    expect(snapshots.size).toBe(2);
    await harness.external.finish(id, 0, null);
    expect(harness.external.idleSince(id)).toBeNull();
  });
});
