/**
 * dockerCall's contract, without an engine: the value, the engine's errors classified, the
 * deadline as DOCKER_UNAVAILABLE with the call's request aborted, and the outer signal's reason.
 */
import { describe, expect, it } from 'vitest';
import { dockerCall } from '../../src/sandbox/docker-call.js';
import { SandboxError } from '../../src/sandbox/sandbox-errors.js';

const never = () => new Promise<never>(() => {});

describe('dockerCall', () => {
  it('resolves with what the call resolves, giving it a live signal', async () => {
    let seen: AbortSignal | undefined;
    expect(await dockerCall('list containers', 60_000, (signal) => ((seen = signal), Promise.resolve('ok')))).toBe('ok');
    expect(seen?.aborted).toBe(false);
  });

  it("classifies the engine's errors", async () => {
    const gone = Object.assign(new Error('(HTTP code 404) no such container'), { statusCode: 404, json: { message: 'No such container: abc' } });
    await expect(dockerCall('inspect abc', 60_000, () => Promise.reject(gone))).rejects.toMatchObject({
      name: 'SandboxError',
      code: 'CONTAINER_GONE',
      message: 'inspect abc: No such container: abc',
    });
    const refused = Object.assign(new Error('connect ECONNREFUSED /var/run/docker.sock'), { code: 'ECONNREFUSED' });
    await expect(dockerCall('list containers', 60_000, () => Promise.reject(refused))).rejects.toMatchObject({ code: 'DOCKER_UNAVAILABLE' });
  });

  it('fails DOCKER_UNAVAILABLE past the deadline, naming the action, and aborts the call', async () => {
    let seen: AbortSignal | undefined;
    const error = await dockerCall('start container bosun-x', 5, (signal) => ((seen = signal), never())).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SandboxError);
    expect(error).toMatchObject({
      code: 'DOCKER_UNAVAILABLE',
      message: 'the Docker engine did not answer within 5 ms while trying to start container bosun-x',
    });
    expect(seen?.aborted).toBe(true);
  });

  it("rejects with the outer signal's reason when it aborts first, and aborts the call", async () => {
    const outer = new AbortController();
    let seen: AbortSignal | undefined;
    const calling = dockerCall('run a command', 60_000, (signal) => ((seen = signal), never()), outer.signal);
    const reason = new Error('cancelled');
    outer.abort(reason);
    await expect(calling).rejects.toBe(reason);
    expect(seen?.aborted).toBe(true);
  });

  it('does not call at all when the outer signal has already aborted', async () => {
    const reason = new Error('too late');
    let called = false;
    await expect(dockerCall('run a command', 60_000, () => Promise.resolve((called = true)), AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(called).toBe(false);
  });
});
