import { describe, expect, it } from 'vitest';
import { AgentRegistry } from '../../src/runs/agent-registry.js';
import { ShellAgent } from '../../src/agents/shell-agent.js';
import { BosunError } from '../../src/errors.js';
import type { StartAgentInput } from '../../src/runs/agent-run.js';
import { resolveStartInput } from '../../src/runs/start-input.js';

const MiB = 1024 ** 2;
const defaults = {
  agent: 'shell',
  image: 'bosun-sandbox:latest',
  limits: { cpus: 1, memoryBytes: 2048 * MiB, pidsLimit: 1000 },
  timeoutMs: 1_800_000,
};
const context = { hostCpus: 2, agents: new AgentRegistry([new ShellAgent()]) };

function input(config: Record<string, unknown> = {}, extra: Partial<StartAgentInput> = {}): StartAgentInput {
  return { group: { id: 'g1', name: 'CI', runIds: ['r1'] }, config: { steps: ['make test'], ...config }, ...extra };
}

function refusal(value: StartAgentInput): { code: string; field: string | undefined; message: string } {
  try {
    resolveStartInput(value, defaults, context);
  } catch (error) {
    if (error instanceof BosunError) return { code: error.code, field: error.field, message: error.message };
    throw error;
  }
  throw new Error('accepted');
}

describe('resolveStartInput', () => {
  it('applies every default', () => {
    const { group, config } = resolveStartInput(input(), defaults, context);
    expect(group).toEqual({ id: 'g1', name: 'CI', runIds: ['r1'] });
    expect(config).toEqual({
      agent: 'shell',
      image: 'bosun-sandbox:latest',
      steps: ['make test'],
      env: [],
      limits: defaults.limits,
      timeoutMs: 1_800_000,
      initialRepoContext: null,
      user: null,
      artifacts: [],
    });
  });

  it('takes overrides', () => {
    const { config } = resolveStartInput(
      input({ cpus: 0.5, memory: '256m', pidsLimit: 128, timeoutMs: 60_000, image: 'python:3.12', env: [{ name: 'CI', value: 'true' }] }),
      defaults,
      context,
    );
    expect(config.limits).toEqual({ cpus: 0.5, memoryBytes: 256 * MiB, pidsLimit: 128 });
    expect(config).toMatchObject({ timeoutMs: 60_000, image: 'python:3.12', env: [{ name: 'CI', value: 'true' }] });
  });

  it.each(['0', '1000', '1000:1000', '2147483647', '2147483647:2147483647', '0:0'])(
    'accepts the user %j (the engine takes ids up to 2147483647)',
    (user) => {
      expect(resolveStartInput(input({ user }), defaults, context).config.user).toBe(user);
    },
  );

  it.each(['localhost:5000/team/img:1.0', `img@sha256:${'e'.repeat(64)}`, 'registry.example.com/x/y'])('accepts the image %j', (image) => {
    expect(resolveStartInput(input({ image }), defaults, context).config.image).toBe(image);
  });

  it.each([
    [input({ memory: '2x' }), 'input.config.memory', /expected a size such as 512m or 2g .*got "2x"/],
    [input({ memory: '' }), 'input.config.memory', /got ""/],
    [input({ cpus: 0 }), 'input.config.cpus', /expected a number of CPUs from 0.01 to 2/],
    [input({ cpus: 3 }), 'input.config.cpus', /got 3/],
    [input({ pidsLimit: 8 }), 'input.config.pidsLimit', /expected an integer from 16 to 4194304, got 8/],
    [input({ timeoutMs: 0 }), 'input.config.timeoutMs', /expected milliseconds, an integer from 1000 to 2147483647, got 0/],
    [input({ timeoutMs: 2 ** 31 }), 'input.config.timeoutMs', /got 2147483648/],
    [input({ steps: [] }), 'input.config.steps', /expected at least one command for the shell agent, got an empty list/],
    [input({ steps: ['true', '   '] }), 'input.config.steps[1]', /expected a non-empty string/],
    [input({ steps: ['a\0b'] }), 'input.config.steps[0]', /without NUL bytes/],
    [input({ agent: 'llm' }), 'input.config.agent', /expected a registered agent \(shell\), got "llm"/],
    [input({ image: 'has space' }), 'input.config.image', /expected an image reference/],
    [input({ env: [{ name: 'A=B', value: 'x' }] }), 'input.config.env[0].name', /expected a POSIX variable name/],
    [input({ env: [{ name: '1X', value: 'x' }] }), 'input.config.env[0].name', /got "1X"/],
    [input({ env: [{ name: 'BOSUN_CPU_LIMIT', value: '64' }] }), 'input.config.env[0].name', /does not start with BOSUN_/],
    [
      input({
        env: [
          { name: 'A', value: '1' },
          { name: 'A', value: '2' },
        ],
      }),
      'input.config.env[1].name',
      /each name at most once/,
    ],
    [input({ env: [{ name: 'A', value: 'a\0' }] }), 'input.config.env[0].value', /without NUL bytes/],
    [input({}, { group: { id: '', name: 'x' } }), 'input.group.id', /expected a non-empty string of at most 256/],
    [input({}, { group: { id: 'x', name: 'n'.repeat(257) } }), 'input.group.name', /at most 256/],
    [input({}, { initialRepoContext: 'a\0' }), 'input.initialRepoContext', /without NUL bytes/],
    [input({ user: 'root' }), 'input.config.user', /expected a numeric user such as 1000 or 1000:1000/],
    [input({ user: '9999999999' }), 'input.config.user', /each an integer from 0 to 2147483647; 0 is root\), got "9999999999"/],
    [input({ user: '2147483648' }), 'input.config.user', /got "2147483648"/],
    [input({ user: '1000:2147483648' }), 'input.config.user', /got "1000:2147483648"/],
    [input({ user: '1000:' }), 'input.config.user', /got "1000:"/],
    [input({ image: 'a/' }), 'input.config.image', /a path component is empty.*got "a\/"/],
    [input({ image: 'a:b:c' }), 'input.config.image', /one tag at most/],
    [input({ image: 'UPPERCASE' }), 'input.config.image', /must be lowercase/],
    [input({ image: `a@sha256:short` }), 'input.config.image', /64 lowercase hex/],
  ])('refuses %#: %s', (value, field, message) => {
    const error = refusal(value);
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.field).toBe(field);
    expect(error.message.startsWith(`${field}: expected `)).toBe(true);
    expect(error.message).toMatch(message);
  });
});

describe('config.artifacts', () => {
  it('keeps the paths as given', () => {
    const artifacts = ['/workspace/out/fix.patch', '/workspace/out', '/tmp', '/workspace'];
    expect(resolveStartInput(input({ artifacts }), defaults, context).config.artifacts).toEqual(artifacts);
  });

  it('accepts 32 paths and refuses 33', () => {
    const paths = (n: number) => Array.from({ length: n }, (_, i) => `/workspace/a${i}`);
    expect(resolveStartInput(input({ artifacts: paths(32) }), defaults, context).config.artifacts).toHaveLength(32);
    const error = refusal(input({ artifacts: paths(33) }));
    expect(error.field).toBe('input.config.artifacts');
    expect(error.message).toMatch(/at most 32 paths/);
  });

  it.each([
    'workspace/out',
    '/workspace/../etc/passwd',
    '/workspace/./out',
    '/workspace//out',
    '/workspace/out/',
    '/etc/passwd',
    '/',
    '/workspaces',
    '/tmpx/y',
    '/workspace/a\0b',
    '',
    `/workspace/${'a'.repeat(4096)}`,
  ])('refuses %j, naming the field', (path) => {
    const error = refusal(input({ artifacts: ['/workspace/ok', path] }));
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.field).toBe('input.config.artifacts[1]');
    expect(error.message).toMatch(/^input\.config\.artifacts\[1\]: expected an absolute, normalised path inside \/workspace or \/tmp/);
  });

  it('refuses a path given twice', () => {
    const error = refusal(input({ artifacts: ['/workspace/out', '/tmp/x', '/workspace/out'] }));
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.field).toBe('input.config.artifacts[2]');
    expect(error.message).toMatch(/each path at most once/);
  });
});
