/**
 * Real-engine helpers for tests: a dockerode client built the way bosun builds it, a unique
 * instance id per test file, a check that nothing labelled with it is left behind, and the
 * SandboxError a sandbox call fails with.
 */
import { randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import { expect } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDockerClient } from '../../src/sandbox/docker-client.js';
import { ownershipFilter } from '../../src/sandbox/labels.js';
import { SandboxError } from '../../src/sandbox/sandbox-errors.js';

export const TEST_IMAGE = 'bosun-sandbox:latest';

export function createTestDocker(): Docker {
  return createDockerClient(loadConfig().docker);
}

export function testInstanceId(): string {
  return `test-${randomUUID().slice(0, 8)}`;
}

/** Ids of the containers (running or not) labelled with the instance id. */
export async function containersOf(docker: Docker, instanceId: string, agentId?: string): Promise<string[]> {
  const containers = await docker.listContainers({ all: true, filters: ownershipFilter(instanceId, agentId) });
  return containers.map((container) => container.Id);
}

/** Force-removes whatever a failed test left behind and returns how many there were. */
export async function removeLeftovers(docker: Docker, instanceId: string): Promise<number> {
  const ids = await containersOf(docker, instanceId);
  await Promise.all(
    ids.map((id) =>
      docker
        .getContainer(id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
  return ids.length;
}

/** Runs a command in a running container through the engine directly (not through bosun) and returns stdout. */
export async function readInside(docker: Docker, containerId: string, command: string): Promise<string> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: ['sh', '-c', command], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    docker.modem.demuxStream(stream, { write: (chunk: Buffer) => (out += chunk.toString()) } as never, { write: () => true } as never);
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  return out.trim();
}

/** The SandboxError `promise` rejects with (the test fails if it resolves, or rejects with anything else). */
export async function sandboxErrorOf(promise: Promise<unknown>): Promise<SandboxError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SandboxError);
  return error as SandboxError;
}
