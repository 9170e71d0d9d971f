/**
 * An external session's rules with a scripted AgentContext and fake timers: idleness (and what
 * holds it off), the concurrency limits, finishing once, and what a failed call says.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BosunError } from '../../../src/errors.js';
import type { AgentContext, StepOptions, StepOutcome } from '../../../src/runs/agent.js';
import { ExternalSession, MAX_CONCURRENT_EXECS, MAX_CONCURRENT_FILE_CALLS } from '../../../src/runs/external/external-session.js';
import type { ExecRequest } from '../../../src/runs/external/exec-inputs.js';
import { RunStopped } from '../../../src/runs/run-executor.js';
import { SandboxError } from '../../../src/sandbox/sandbox-errors.js';
import { makeRun } from '../../helpers/fixtures.js';

const IDLE_MS = 1000;
const REQUEST: ExecRequest = { command: 'true', cwd: '/workspace', env: {}, timeoutMs: 60_000, stdin: undefined };

interface Pending {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
}

/** A context whose steps and file calls stay pending until the test settles them. */
function scriptedContext() {
  const run = new AbortController();
  const pending: Pending[] = [];
  let announced = 0;
  const hold = <T>(value: T, signal: AbortSignal | undefined): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const entry = { resolve: () => resolve(value), reject, signal };
      pending.push(entry);
      signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  const stepOptions: StepOptions[] = [];
  const step = (command: string, options: StepOptions = {}): Promise<StepOutcome> =>
    (stepOptions.push(options), hold)(
      {
        index: 1,
        exitCode: 0,
        timedOut: false,
        interrupted: false,
        durationMs: 5,
        step: { index: 1, command, exitCode: 0, startedAt: new Date(), finishedAt: new Date() },
        output: { stdout: 'out', stderr: '', truncated: false },
      },
      options.signal,
    );
  const context: AgentContext = {
    runId: 'run-1',
    config: { ...makeRun({ id: 'run-1' }).config, timeoutMs: 5000 },
    limits: makeRun({ id: 'run-1' }).config.limits,
    signal: run.signal,
    workspaceDir: '/workspace',
    contextFilePath: null,
    step,
    writeFile: () => Promise.resolve(),
    writeFiles: (files, signal) =>
      hold(
        files.map((file) => ({ path: file.path, type: 'FILE' as const, sizeBytes: 1, mode: 0o644 })),
        signal,
      ),
    readFile: (path, options) => hold({ path, sizeBytes: 0, content: new Uint8Array(), truncated: false }, options.signal),
    listFiles: (_path, signal) => hold([], signal),
    extractArchive: (_path, _archive, options) => hold([], options.signal),
    readArchive: (_path, signal) => hold(new ReadableStream<Uint8Array>({ start: (controller) => controller.close() }), signal),
    log: () => undefined,
    announce: () => {
      announced += 1;
    },
  };
  return { context, run, pending, stepOptions, announced: () => announced };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Lets the promises settled so far run their callbacks. */
const flush = () => vi.advanceTimersByTimeAsync(0);

describe('idleness', () => {
  it('ends the session idle after idleTimeoutMs without a call', async () => {
    const { context } = scriptedContext();
    const session = new ExternalSession({ context, idleTimeoutMs: IDLE_MS });
    const ended = vi.fn();
    void session.ended.then(ended);
    await vi.advanceTimersByTimeAsync(IDLE_MS - 1);
    expect(ended).not.toHaveBeenCalled();
    expect(session.idleSince).toEqual(new Date(Date.now() - (IDLE_MS - 1)));
    await vi.advanceTimersByTimeAsync(1);
    expect(ended).toHaveBeenCalledWith({ kind: 'idle', idleTimeoutMs: IDLE_MS });
    expect(session.isOpen).toBe(false);
    await expect(session.exec(REQUEST)).rejects.toThrow(/went idle: no command or file call for 1000 ms; it takes no more calls/);
  });

  it('is held off while a call is in flight, and counts again from its end', async () => {
    const { context, pending, announced } = scriptedContext();
    const session = new ExternalSession({ context, idleTimeoutMs: IDLE_MS });
    await vi.advanceTimersByTimeAsync(IDLE_MS - 10);
    const call = session.exec(REQUEST);
    expect(session.idleSince).toBeNull();
    expect(announced()).toBe(1);
    await vi.advanceTimersByTimeAsync(IDLE_MS * 5);
    expect(session.isOpen).toBe(true);
    pending[0]!.resolve();
    await expect(call).resolves.toMatchObject({ exitCode: 0, stdout: 'out', timedOut: false, truncated: false });
    expect(announced()).toBe(2);
    expect(session.idleSince).toEqual(new Date());
    await vi.advanceTimersByTimeAsync(IDLE_MS - 1);
    expect(session.isOpen).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(session.isOpen).toBe(false);
  });

  it('counts a download as in flight until its stream ends', async () => {
    const { context, pending } = scriptedContext();
    const session = new ExternalSession({ context, idleTimeoutMs: IDLE_MS });
    const download = session.readArchive('/workspace');
    pending[0]!.resolve();
    const stream = await download;
    await vi.advanceTimersByTimeAsync(IDLE_MS * 3);
    expect(session.isOpen).toBe(true);
    expect(session.idleSince).toBeNull();
    const reader = stream.getReader();
    expect(await reader.read()).toEqual({ done: true, value: undefined });
    expect(session.idleSince).not.toBeNull();
    await vi.advanceTimersByTimeAsync(IDLE_MS);
    expect(session.isOpen).toBe(false);
  });

  it('counts a download whose reader went away as over', async () => {
    const { context, pending } = scriptedContext();
    const session = new ExternalSession({ context, idleTimeoutMs: IDLE_MS });
    const reader = new AbortController();
    const download = session.readArchive('/workspace', reader.signal);
    pending[0]!.resolve();
    await download;
    expect(session.idleSince).toBeNull();
    reader.abort();
    expect(session.idleSince).not.toBeNull();
  });
});

describe('limits', () => {
  it(`runs at most ${MAX_CONCURRENT_EXECS} commands at once; one more is RATE_LIMITED`, async () => {
    const { context, pending } = scriptedContext();
    const session = new ExternalSession({ context, idleTimeoutMs: IDLE_MS });
    const running = Array.from({ length: MAX_CONCURRENT_EXECS }, () => session.exec(REQUEST));
    await expect(session.exec(REQUEST)).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      message: expect.stringMatching(/has 8 commands running/) as string,
    });
    // File calls have their own allowance.
    const listing = session.listFiles('/workspace');
    pending[0]!.resolve();
    await running[0];
    const ninth = session.exec(REQUEST);
    for (const entry of pending.slice(1)) entry.resolve();
    await Promise.all([...running, listing, ninth]);
  });

  it(`has at most ${MAX_CONCURRENT_FILE_CALLS} file calls in flight`, async () => {
    const { context, pending } = scriptedContext();
    const session = new ExternalSession({ context, idleTimeoutMs: IDLE_MS });
    const calls = Array.from({ length: MAX_CONCURRENT_FILE_CALLS }, () => session.readFile('/workspace/a', 10));
    await expect(session.writeFiles([])).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    for (const entry of pending) entry.resolve();
    await Promise.all(calls);
  });
});

describe('finishing', () => {
  it('finishes once; a second finish and later calls are INVALID_STATE', async () => {
    const { context } = scriptedContext();
    const session = new ExternalSession({ context, idleTimeoutMs: IDLE_MS });
    session.finish(3, 'tests fail');
    await expect(session.ended).resolves.toEqual({ kind: 'finished', exitCode: 3, error: 'tests fail' });
    expect(() => session.finish(0, null)).toThrow(
      expect.objectContaining({ code: 'INVALID_STATE', message: expect.stringMatching(/was finished by finishAgent with exit code 3/) as string }),
    );
    await expect(session.listFiles('/workspace')).rejects.toMatchObject({ code: 'INVALID_STATE' });
    // Its idle timer is gone with it.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stops the calls in flight, which say the run was finished', async () => {
    const { context } = scriptedContext();
    const session = new ExternalSession({ context, idleTimeoutMs: IDLE_MS });
    const call = session.exec(REQUEST);
    session.finish(0, null);
    await expect(call).rejects.toMatchObject({
      code: 'INVALID_STATE',
      message: 'run run-1 was finished by finishAgent with exit code 0 while this call ran',
    });
  });

  it('close() releases the timer and ends an open session', async () => {
    const { context } = scriptedContext();
    const session = new ExternalSession({ context, idleTimeoutMs: IDLE_MS });
    session.close();
    session.close();
    expect(vi.getTimerCount()).toBe(0);
    await expect(session.ended).resolves.toMatchObject({ kind: 'failed' });
  });
});

describe('a caller that goes away', () => {
  it("interrupts its command with a reason that says so; a call without a caller's signal has no interrupt", async () => {
    const { context, pending, stepOptions } = scriptedContext();
    const session = new ExternalSession({ context, idleTimeoutMs: IDLE_MS });
    const client = new AbortController();
    const call = session.exec(REQUEST, client.signal);
    const plain = session.exec(REQUEST);
    await flush();
    const interrupt = stepOptions[0]!.interrupt!;
    expect(interrupt.aborted).toBe(false);
    expect(stepOptions[1]!.interrupt).toBeUndefined();
    client.abort();
    expect(interrupt.aborted).toBe(true);
    expect(interrupt.reason).toEqual(new Error('the client went away'));
    // The session stays open: only that command ends.
    expect(session.isOpen).toBe(true);
    for (const entry of pending) entry.resolve();
    await Promise.all([call, plain]);
  });

  it('starts nothing for a caller already gone', async () => {
    const { context, stepOptions } = scriptedContext();
    const session = new ExternalSession({ context, idleTimeoutMs: IDLE_MS });
    const client = new AbortController();
    client.abort();
    await expect(session.exec(REQUEST, client.signal)).rejects.toThrow();
    expect(stepOptions).toEqual([]);
    expect(session.idleSince).not.toBeNull();
  });
});

describe('what a failed call says', () => {
  it.each([
    ['cancel', 'INVALID_STATE', 'run run-1 was cancelled while this call ran'],
    ['deadline', 'INVALID_STATE', 'run run-1 reached its deadline (timeoutMs 5000) while this call ran'],
    ['shutdown', 'SHUTTING_DOWN', 'bosun is shutting down: run run-1 was stopped while this call ran'],
  ] as const)('the run stopped by %s', async (cause, code, message) => {
    const { context, run, pending } = scriptedContext();
    const session = new ExternalSession({ context, idleTimeoutMs: IDLE_MS });
    const call = session.exec(REQUEST);
    run.abort(new RunStopped(cause));
    pending[0]!.reject(run.signal.reason);
    await expect(call).rejects.toMatchObject({ code, message });
  });

  it('maps sandbox faults to the API codes; a lost sandbox ends the session', async () => {
    const { context, pending } = scriptedContext();
    const session = new ExternalSession({ context, idleTimeoutMs: IDLE_MS });
    const reject = async (error: Error) => {
      const call = session.readFile('/workspace/x', 10);
      await flush();
      pending.at(-1)!.reject(error);
      return call.catch((caught: unknown) => caught);
    };
    expect(await reject(new SandboxError('FILE_NOT_FOUND', '/workspace/x: no such file'))).toMatchObject({ code: 'NOT_FOUND' });
    expect(await reject(new SandboxError('ARCHIVE_REFUSED', 'entry ../x escapes'))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'archive',
      message: 'archive: entry ../x escapes',
    });
    expect(await reject(new SandboxError('DOCKER_ERROR', 'refused'))).toMatchObject({ code: 'SANDBOX_ERROR' });
    expect(await reject(new SandboxError('FILE_ERROR', 'could not write /workspace/x: No space left on device'))).toMatchObject({
      code: 'FILE_ERROR',
      message: 'could not write /workspace/x: No space left on device',
    });
    const refusal = new BosunError('BAD_USER_INPUT', 'as it is');
    expect(await reject(refusal)).toBe(refusal);
    expect(session.isOpen).toBe(true);
    expect(await reject(new SandboxError('CONTAINER_GONE', 'the container is gone'))).toMatchObject({ code: 'SANDBOX_ERROR' });
    expect(session.isOpen).toBe(false);
    await expect(session.ended).resolves.toMatchObject({ kind: 'failed', error: expect.objectContaining({ code: 'CONTAINER_GONE' }) as unknown });
  });

  it('the sandbox stopped of itself (the run stopped with its fault): SANDBOX_ERROR saying so, and the session ends with it', async () => {
    const { context, run, pending } = scriptedContext();
    const session = new ExternalSession({ context, idleTimeoutMs: IDLE_MS });
    const call = session.exec(REQUEST);
    const gone = new SandboxError('CONTAINER_GONE', 'the container bosun-x exited with code 137');
    run.abort(gone);
    session.close();
    pending[0]!.reject(gone);
    await expect(call).rejects.toMatchObject({
      code: 'SANDBOX_ERROR',
      message: 'the sandbox container stopped unexpectedly: the container bosun-x exited with code 137',
    });
    expect(session.describeEnding()).toBe('lost its sandbox: the container bosun-x exited with code 137');
  });
});
