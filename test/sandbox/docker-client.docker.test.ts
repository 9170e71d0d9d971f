/**
 * The Docker client never follows a redirect. The real engine answers a request whose path is not
 * clean (an image named `a/` makes `/images/a//json`) with a 301; a stock dockerode client follows
 * it to a host named after a path segment, and that request's error is uncaught: the process dies.
 * These calls bypass bosun's validation on purpose. Vitest fails a run on any uncaught error, so
 * the process surviving is part of every assertion here.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dockerCall } from '../../src/sandbox/docker-call.js';
import { DockerRedirectError, refuseRedirects } from '../../src/sandbox/docker-client.js';
import { SandboxError } from '../../src/sandbox/sandbox-errors.js';
import { createTestDocker } from '../helpers/docker.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const UNCLEAN = ['a/', '/a', 'a//b', 'a/./b', 'a/../b', 'a/.', 'x/..'];

let docker: Docker;
/** Every HTTP request this process starts, as host + path. */
const requests: string[] = [];
const onRequest = (message: unknown) => {
  const request = (message as { request: ClientRequest }).request;
  requests.push(`${request.host}${request.path}`);
};

beforeAll(() => {
  docker = createTestDocker();
  diagnostics.subscribe('http.client.request.start', onRequest);
  return () => diagnostics.unsubscribe('http.client.request.start', onRequest);
});
afterEach(() => {
  requests.length = 0;
});

describe('a redirect from the real engine', () => {
  it.each(UNCLEAN)('rejects image inspect of %j and sends no second request', async (name) => {
    const error = await docker
      .getImage(name)
      .inspect()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(DockerRedirectError);
    expect((error as Error).message).toMatch(/answered with a redirect, which bosun never follows/);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toContain(`/images/${name}/json`);
  });

  it('rejects container, exec and volume calls the same way', async () => {
    await expect(docker.getContainer('a/').inspect()).rejects.toBeInstanceOf(DockerRedirectError);
    await expect(docker.getContainer('x/..').remove({ force: true })).rejects.toBeInstanceOf(DockerRedirectError);
    await expect(docker.getExec('a/').inspect()).rejects.toBeInstanceOf(DockerRedirectError);
    await expect(docker.getVolume('/a').inspect()).rejects.toBeInstanceOf(DockerRedirectError);
    expect(requests).toHaveLength(4);
  });

  it('is a DOCKER_ERROR under a deadline, not DOCKER_UNAVAILABLE: the engine answered', async () => {
    const error = await dockerCall('look up image a/', 5_000, (signal) =>
      docker.getImage('a/').inspect({ abortSignal: signal } as Docker.ImageInspectOptions),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SandboxError);
    expect((error as SandboxError).code).toBe('DOCKER_ERROR');
    expect((error as SandboxError).message).toBe(
      'look up image a/: the Docker engine answered with a redirect, which bosun never follows (the request path was not clean: a name with an empty, "." or ".." segment)',
    );
  });

  it('leaves the client working: the next call answers', async () => {
    await expect(docker.getImage('a//b').inspect()).rejects.toBeInstanceOf(DockerRedirectError);
    expect(await docker.ping()).toBeTruthy();
  });

  it('refuses to guard a modem it does not know rather than silently not guarding it', () => {
    expect(() => refuseRedirects({ modem: {} } as unknown as Docker)).toThrow(/no buildRequest/);
  });

  it('kills a process with a stock dockerode client (the attack this guards against)', async () => {
    // In a child process: its uncaught error must not be this test run's.
    const script = `
      import Docker from 'dockerode';
      import diagnostics from 'node:diagnostics_channel';
      diagnostics.subscribe('http.client.request.start', ({ request }) => console.log('request', request.host + request.path));
      const docker = new Docker({ socketPath: '/var/run/docker.sock' });
      docker.getImage('a/').inspect().catch((error) => console.log('rejected', error.statusCode));
      setTimeout(() => console.log('alive'), 5000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    const followed = stdout
      .split('\n')
      .filter((line) => line.startsWith('request '))
      .slice(1);
    // The redirect is followed to another host ("images"), and the process dies of it.
    expect(followed.length, stdout).toBeGreaterThan(0);
    expect(followed[0], stdout).not.toMatch(/^request localhost\//);
    expect(code, stderr).not.toBe(0);
    expect(stdout).not.toContain('alive');
  });
});

describe('answers of the real engine are classified as answers', () => {
  it.each([
    ['a:b:c', 'DOCKER_ERROR', /invalid reference format/],
    ['UPPERCASE', 'DOCKER_ERROR', /must be lowercase/],
    ['a@sha256:short', 'DOCKER_ERROR', /invalid reference format/],
    ['bosun-no-such-image:never', 'IMAGE_NOT_FOUND', /No such image/i],
  ])('%j is %s', async (name, code, message) => {
    const error = await dockerCall(`look up image ${name}`, 5_000, (signal) =>
      docker.getImage(name).inspect({ abortSignal: signal } as Docker.ImageInspectOptions),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SandboxError);
    expect((error as SandboxError).code).toBe(code);
    expect((error as SandboxError).message).toMatch(message);
  });
});
