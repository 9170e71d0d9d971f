/**
 * Per-command timeouts on the real engine (issue 15): a command past its `timeoutMs` gets SIGTERM
 * (to the process group it leads), SIGKILL after the grace, and comes back `timedOut`; the
 * sandbox's other commands are not touched.
 */
import type Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DockerSandbox } from '../../src/sandbox/docker-sandbox.js';
import { SandboxManager } from '../../src/sandbox/sandbox-manager.js';
import { TEST_IMAGE, createTestDocker, readInside, removeLeftovers, testInstanceId } from '../helpers/docker.js';

const MiB = 1024 ** 2;
const instanceId = testInstanceId();
let docker: Docker;
let manager: SandboxManager;
let seq = 0;

function create(): Promise<DockerSandbox> {
  seq += 1;
  return manager.create({ runId: `${instanceId}-t${seq}`, image: TEST_IMAGE, limits: { cpus: 1, memoryBytes: 256 * MiB, pidsLimit: 200 } });
}

function collect(): { lines: Array<[string, string]>; onOutput: (stream: string, line: string) => void } {
  const lines: Array<[string, string]> = [];
  return { lines, onOutput: (stream, line) => lines.push([stream, line]) };
}

beforeAll(() => {
  docker = createTestDocker();
  manager = new SandboxManager(docker, instanceId);
});
afterEach(() => manager.disposeAll());
afterAll(async () => {
  await manager?.disposeAll();
  expect(await removeLeftovers(docker, instanceId)).toBe(0);
});

describe('exec timeoutMs', () => {
  it('ends only that command (its background children too) while a parallel command goes on and finishes', async () => {
    const sandbox = await create();
    const parallel = collect();
    // Waits for a file that is only created after the timed-out command is over.
    const running = sandbox.exec('while [ ! -e /tmp/go ]; do sleep 0.05; done; echo finished', { onOutput: parallel.onOutput });
    const timed = collect();
    const result = await sandbox.exec('echo started; sleep 1000 & sleep 1001', { timeoutMs: 300, onOutput: timed.onOutput });
    expect(result).toEqual({ exitCode: 143, timedOut: true });
    expect(timed.lines).toEqual([['stdout', 'started']]);
    // Its output ended, so nothing of it holds the pipe any more: its processes are gone.
    expect(await readInside(docker, sandbox.id, 'ps -o args | grep -c "^sleep 100[01]$"; exit 0')).toBe('0');
    expect(await sandbox.exec('touch /tmp/go')).toEqual({ exitCode: 0 });
    expect(await running).toEqual({ exitCode: 0 });
    expect(parallel.lines).toEqual([['stdout', 'finished']]);
  });

  it('lets a command that handles SIGTERM end its own way', async () => {
    const sandbox = await create();
    const { lines, onOutput } = collect();
    const result = await sandbox.exec("trap 'echo cleaning up; exit 7' TERM; echo ready; while :; do sleep 0.05; done", { timeoutMs: 300, onOutput });
    expect(result).toEqual({ exitCode: 7, timedOut: true });
    // (The shell may also report its killed `sleep` on stderr.)
    expect(lines.filter(([stream]) => stream === 'stdout')).toEqual([
      ['stdout', 'ready'],
      ['stdout', 'cleaning up'],
    ]);
  });

  it('kills a command that ignores SIGTERM once the grace is over', async () => {
    const sandbox = await create();
    const result = await sandbox.exec("trap '' TERM; sleep 1000", { timeoutMs: 200, timeoutGraceMs: 300 });
    expect(result).toEqual({ exitCode: 137, timedOut: true });
    expect(await readInside(docker, sandbox.id, 'ps -o args | grep -c "^sleep 1000$"; exit 0')).toBe('0');
  });

  it('does not wait for a process that left the command’s session and holds its output', async () => {
    const sandbox = await create();
    const result = await sandbox.exec('setsid sleep 1000 & sleep 1001', { timeoutMs: 200, timeoutGraceMs: 300 });
    expect(result.timedOut).toBe(true);
    // The escaped process is the sandbox's business now (stop() ends it with the rest). The
    // engine holds the container's next exec for a few seconds while it waits for the dead
    // command's output to close, so this test is slower than the others.
    expect(await readInside(docker, sandbox.id, 'ps -o args | grep -c "^sleep 1001$"; exit 0')).toBe('0');
  });

  it('changes nothing for a command that ends in time: same result, same output (the pid line taken out)', async () => {
    const sandbox = await create();
    const { lines, onOutput } = collect();
    const result = await sandbox.exec('echo out; echo err >&2; exit 3', { timeoutMs: 30_000, onOutput });
    expect(result).toEqual({ exitCode: 3 });
    expect(lines.filter(([stream]) => stream === 'stdout')).toEqual([['stdout', 'out']]);
    expect(lines.filter(([stream]) => stream === 'stderr')).toEqual([['stderr', 'err']]);
  });

  it('passes stdin, env and cwd through the wrapper', async () => {
    const sandbox = await create();
    const { lines, onOutput } = collect();
    const result = await sandbox.exec('echo "$(cat) $X $(pwd) $0"', { timeoutMs: 30_000, stdin: 'in', env: { X: 'x' }, cwd: '/tmp', onOutput });
    expect(result).toEqual({ exitCode: 0 });
    expect(lines).toEqual([['stdout', 'in x /tmp sh']]);
  });
});
