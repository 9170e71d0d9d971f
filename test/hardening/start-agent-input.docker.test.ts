/**
 * Bad startAgent inputs against the whole real service (the run service's validation, the real
 * engine behind it): every field of StartAgentInput with wrong types, empty and whitespace
 * strings, NUL bytes, 1 MB strings, negative, tiny and huge numbers, env names such as `A=B`.
 * Each is refused with BAD_USER_INPUT naming the field and what is expected, and no container is
 * created for any of them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countSandboxCreations, startTestApp, type TestApp } from '../helpers/start-app.js';
import { post } from './hardened-server.js';

let app: TestApp;
let created: () => number;

beforeAll(async () => {
  app = await startTestApp({ START_RATE_PER_MINUTE: '1000000' });
  // Count every sandbox the run service asks for; none may be asked for here.
  created = countSandboxCreations(app);
});

afterAll(async () => {
  expect(await app.close(), 'containers left behind').toBe(0);
});

const START = 'mutation Start($input: StartAgentInput!) { startAgent(input: $input) { agentId } }';
const MB = 'x'.repeat(1_000_000);
const GROUP = { id: 'ci-1', name: 'flaky' };

type Input = { group: Record<string, unknown>; config: Record<string, unknown>; initialRepoContext?: unknown };
const withConfig = (config: Record<string, unknown>): Input => ({ group: GROUP, config: { steps: ['true'], ...config } });
const withGroup = (group: Record<string, unknown>): Input => ({ group: { ...GROUP, ...group }, config: { steps: ['true'] } });

/** [label, the field the message must name, input]. */
const CASES: readonly (readonly [string, string, Input])[] = [
  ['group.id empty', 'input.group.id', withGroup({ id: '' })],
  ['group.id whitespace', 'input.group.id', withGroup({ id: '   ' })],
  ['group.id with NUL', 'input.group.id', withGroup({ id: 'a\u0000b' })],
  ['group.id 1 MB', 'input.group.id', withGroup({ id: MB })],
  ['group.id a number', 'input.group.id', withGroup({ id: 7 })],
  ['group.id null', 'input.group.id', withGroup({ id: null })],
  ['group.name empty', 'input.group.name', withGroup({ name: '' })],
  ['group.name 1 MB', 'input.group.name', withGroup({ name: MB })],
  ['group.runIds with an empty id', 'input.group.runIds[1]', withGroup({ runIds: ['ok', ''] })],
  ['group.runIds 1001 ids', 'input.group.runIds', withGroup({ runIds: Array.from({ length: 1001 }, (_, i) => `r${i}`) })],
  ['group.runIds not strings', 'input.group.runIds', withGroup({ runIds: [1, 2] })],
  ['config.agent unknown', 'input.config.agent', withConfig({ agent: 'skynet' })],
  ['config.agent empty', 'input.config.agent', withConfig({ agent: '' })],
  ['config.image empty', 'input.config.image', withConfig({ image: '' })],
  ['config.image with spaces', 'input.config.image', withConfig({ image: 'bosun sandbox' })],
  ['config.image 1 MB', 'input.config.image', withConfig({ image: MB })],
  ['config.image absent from the engine', 'input.config.image', withConfig({ image: 'bosun-no-such-image:never' })],
  ['config.steps an empty step', 'input.config.steps[0]', withConfig({ steps: [''] })],
  ['config.steps a whitespace step', 'input.config.steps[1]', withConfig({ steps: ['true', ' \t\n '] })],
  ['config.steps a NUL byte', 'input.config.steps[0]', withConfig({ steps: ['echo a\u0000b'] })],
  ['config.steps a step over 64 KiB', 'input.config.steps[0]', withConfig({ steps: ['x'.repeat(64 * 1024 + 1)] })],
  ['config.steps 1001 steps', 'input.config.steps', withConfig({ steps: Array.from({ length: 1001 }, () => 'true') })],
  ['config.steps a number', 'input.config.steps', withConfig({ steps: [5] })],
  ['config.env name A=B', 'input.config.env[0].name', withConfig({ env: [{ name: 'A=B', value: '1' }] })],
  ['config.env name empty', 'input.config.env[0].name', withConfig({ env: [{ name: '', value: '1' }] })],
  ['config.env name starting with a digit', 'input.config.env[0].name', withConfig({ env: [{ name: '1A', value: '1' }] })],
  ['config.env name reserved', 'input.config.env[0].name', withConfig({ env: [{ name: 'BOSUN_AGENT_ID', value: 'spoof' }] })],
  [
    'config.env name twice',
    'input.config.env[1].name',
    withConfig({
      env: [
        { name: 'A', value: '1' },
        { name: 'A', value: '2' },
      ],
    }),
  ],
  ['config.env name with NUL', 'input.config.env[0].name', withConfig({ env: [{ name: 'A\u0000', value: '1' }] })],
  ['config.env value with NUL', 'input.config.env[0].value', withConfig({ env: [{ name: 'A', value: 'a\u0000b' }] })],
  ['config.env value over 64 KiB', 'input.config.env[0].value', withConfig({ env: [{ name: 'A', value: 'v'.repeat(64 * 1024 + 1) }] })],
  ['config.env value missing', 'input.config.env[0].value', withConfig({ env: [{ name: 'A' }] })],
  ['config.cpus negative', 'input.config.cpus', withConfig({ cpus: -1 })],
  ['config.cpus zero', 'input.config.cpus', withConfig({ cpus: 0 })],
  ['config.cpus below 0.01', 'input.config.cpus', withConfig({ cpus: 0.001 })],
  ['config.cpus more than the host has', 'input.config.cpus', withConfig({ cpus: 1e9 })],
  ['config.cpus a string', 'input.config.cpus', withConfig({ cpus: '1' })],
  ['config.memory empty', 'input.config.memory', withConfig({ memory: '' })],
  ['config.memory negative', 'input.config.memory', withConfig({ memory: '-512m' })],
  ['config.memory below 6m', 'input.config.memory', withConfig({ memory: '5m' })],
  ['config.memory an unknown unit', 'input.config.memory', withConfig({ memory: '2t' })],
  ['config.memory an exponent', 'input.config.memory', withConfig({ memory: '1e9' })],
  ['config.memory overflowing', 'input.config.memory', withConfig({ memory: '99999999999999999g' })],
  ['config.memory 1 MB', 'input.config.memory', withConfig({ memory: MB })],
  ['config.memory a number', 'input.config.memory', withConfig({ memory: 536870912 })],
  ['config.pidsLimit negative', 'input.config.pidsLimit', withConfig({ pidsLimit: -1 })],
  ['config.pidsLimit below 16', 'input.config.pidsLimit', withConfig({ pidsLimit: 15 })],
  ['config.pidsLimit above 4194304', 'input.config.pidsLimit', withConfig({ pidsLimit: 4_194_305 })],
  ['config.pidsLimit past Int', 'input.config.pidsLimit', withConfig({ pidsLimit: 2 ** 31 })],
  ['config.pidsLimit a fraction', 'input.config.pidsLimit', withConfig({ pidsLimit: 64.5 })],
  ['config.timeoutMs negative', 'input.config.timeoutMs', withConfig({ timeoutMs: -1 })],
  ['config.timeoutMs zero', 'input.config.timeoutMs', withConfig({ timeoutMs: 0 })],
  ['config.timeoutMs under a second', 'input.config.timeoutMs', withConfig({ timeoutMs: 999 })],
  ['config.timeoutMs past Int', 'input.config.timeoutMs', withConfig({ timeoutMs: 1e12 })],
  ['config.user a name', 'input.config.user', withConfig({ user: 'root' })],
  ['config.user empty', 'input.config.user', withConfig({ user: '' })],
  ['config.user negative', 'input.config.user', withConfig({ user: '-1' })],
  ['config.user a bad group', 'input.config.user', withConfig({ user: '1000:staff' })],
  ['config.user with NUL', 'input.config.user', withConfig({ user: '1000\u0000' })],
  ['config.user 1 MB', 'input.config.user', withConfig({ user: MB })],
  ['config.user a number', 'input.config.user', withConfig({ user: 1000 })],
  ['config an unknown field', 'input.config.privileged', withConfig({ privileged: true })],
  ['initialRepoContext with NUL', 'input.initialRepoContext', { ...withConfig({}), initialRepoContext: 'a\u0000b' }],
  ['initialRepoContext a number', 'input.initialRepoContext', { ...withConfig({}), initialRepoContext: 42 }],
];

describe('startAgent refuses bad input with BAD_USER_INPUT and creates no container', () => {
  it.each(CASES.map(([label, field, input]) => ({ label, field, input })))('$label', async ({ label, field, input }) => {
    const { status, body } = await post(app.url, START, { input });
    expect([200, 400], label).toContain(status);
    expect(body.data?.startAgent ?? null, label).toBeNull();
    expect(body.errors?.length, JSON.stringify(body).slice(0, 300)).toBeGreaterThan(0);
    for (const error of body.errors ?? []) {
      expect(error.extensions?.code, `${label}: ${error.message}`).toBe('BAD_USER_INPUT');
      // graphql-js names the path inside the variable ("input.config.cpus"), bosun the field ("input.config.cpus").
      // The message names the field: bosun's by its path, graphql-js's by the path to its object and its name.
      const [, parent = '', name = ''] = /^(.*)\.([^.]+)$/.exec(field) ?? [];
      expect(
        error.message.includes(field) || (error.message.includes(`"${parent}"`) && error.message.includes(`"${name.replace(/\[\d+\]$/, '')}"`)),
        `${label}: ${error.message}`,
      ).toBe(true);
      expect(error.message, label).toMatch(/expected|cannot represent|not defined by type|required type|must not be null|not provided/i);
      expect(error.message.length, `${label}: the message repeats the value`).toBeLessThan(600);
      expect(error.extensions?.field, label).toMatch(new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')}`));
    }
    expect(created(), label).toBe(0);
  });

  it('has recorded no run and asked the engine for no container', async () => {
    const { body } = await post(app.url, '{ agentRuns { id } }');
    expect(body).toEqual({ data: { agentRuns: [] } });
    expect(app.app.sandboxes.liveSandboxes()).toEqual([]);
    expect(await app.app.sandboxes.ownedContainerIds()).toEqual([]);
  });

  it('refuses an initialRepoContext over 1 MiB at the door (413): it cannot fit in a request', async () => {
    const { status } = await post(app.url, START, { input: { ...withConfig({}), initialRepoContext: 'c'.repeat(1024 * 1024 + 1) } });
    expect(status).toBe(413);
  });
});
