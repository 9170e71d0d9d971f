/**
 * Property: for 10,000 generated values of `memory`, `cpus`, `pidsLimit`, `timeoutMs`, `steps`
 * and `env` — valid ones, edge cases and garbage — startAgent either accepts the input or
 * refuses it with BAD_USER_INPUT; nothing else is thrown; and every sandbox the run service then
 * asks the engine for has limits that src/sandbox/limits.ts's parsers accept, and env names a
 * shell accepts.
 *
 * It runs against the whole real service (the real engine answers its questions), with the
 * sandbox manager's `create` wrapped to record what it is asked for and refuse with a sentinel
 * error instead of starting a container: 10,000 values do not start 10,000 containers. Most
 * values go straight to the run service's `start`; a few hundred go through GraphQL over HTTP,
 * where JSON values of the wrong type are added, for graphql-js's coercion to refuse.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BosunError } from '../../src/errors.js';
import { MAX_TIMEOUT_MS, MIN_TIMEOUT_MS } from '../../src/runs/start-input.js';
import type { CreateSandboxOptions, EngineInfo } from '../../src/sandbox/sandbox-manager.js';
import { parseCpus, parseMemoryBytes, parsePidsLimit } from '../../src/sandbox/limits.js';
import { eventually } from '../helpers/graphql-clients.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';
import { post } from './hardened-server.js';

/** What the wrapped `create` throws: the run fails with a sandbox error, and no container exists. */
class NotCreated extends Error {
  override readonly name = 'NotCreated';
}

let app: TestApp;
let engine: EngineInfo;
const creates: CreateSandboxOptions[] = [];

beforeAll(async () => {
  app = await startTestApp({ MAX_CONCURRENT_AGENTS: '0', MAX_QUEUE_LENGTH: '1000000', START_RATE_PER_MINUTE: '1000000' });
  const sandboxes = app.app.sandboxes;
  engine = await sandboxes.engineInfo();
  // The engine's answers do not change during the test: ask once rather than 10,000 times.
  sandboxes.engineInfo = () => Promise.resolve(engine);
  const imageExists = sandboxes.imageExists.bind(sandboxes);
  const images = new Map<string, Promise<boolean>>();
  sandboxes.imageExists = (image) => {
    if (!images.has(image)) images.set(image, imageExists(image));
    return images.get(image)!;
  };
  sandboxes.create = (options) => {
    creates.push(options);
    return Promise.reject(new NotCreated('recorded, not created'));
  };
}, 60_000);

afterAll(async () => {
  expect(await app?.close(), 'containers left behind').toBe(0);
});

/** Valid values are weighted up, so that about half of the inputs are accepted. */
const MEMORY = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.integer({ min: 6, max: 4_096 }), fc.constantFrom('m', 'M')).map(([n, unit]) => `${n}${unit}`) },
  fc.tuple(fc.integer({ min: 0, max: 5_000 }), fc.constantFrom('', 'b', 'k', 'g', 'K', 'G', 't', 'mb', ' ')).map(([n, unit]) => `${n}${unit}`),
  fc.tuple(fc.double({ min: 0, max: 64, noNaN: true }), fc.constantFrom('m', 'g')).map(([n, unit]) => `${n}${unit}`),
  fc.constantFrom(
    '',
    ' ',
    '0',
    '5m',
    '6m',
    '6291456',
    '6291455',
    '1e9',
    '-1g',
    '1.5g',
    '.5g',
    '99999999999999999g',
    'NaN',
    'Infinity',
    ' 512m ',
    '512m\u0000',
    '0x10m',
  ),
  fc.string({ maxLength: 12, unit: 'binary' }),
);
const CPUS = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: 0.01, max: 1, noNaN: true }) },
  fc.double({ min: -2, max: 64, noNaN: true, noDefaultInfinity: true }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 0.01, 0.009999, 0.5, 1, 2, 1e-300, 1e300),
  fc.integer({ min: -10, max: 1_000 }),
);
const INT32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const PIDS = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 16, max: 4_194_304 }) },
  INT32,
  fc.integer({ min: -5, max: 5_000 }),
  fc.constantFrom(15, 16, 4_194_304, 4_194_305, 0, -1),
);
const TIMEOUT = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1_000, max: 2 ** 31 - 1 }) },
  INT32,
  fc.integer({ min: -5, max: 100_000 }),
  fc.constantFrom(0, 999, 1_000, 2_147_483_647, -1),
);
const TEXT = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ maxLength: 20, unit: 'binary' }),
  fc.constantFrom('', ' ', '\t\n', 'echo ok', 'a\u0000b', 'true', '\u200b'),
);
const STEP = fc.oneof({ weight: 8, arbitrary: fc.stringMatching(/^[a-z][a-z0-9 ]{0,15}$/) }, TEXT);
const STEPS = fc.array(STEP, { maxLength: 4 });
const ENV_NAME = fc.oneof(
  { weight: 8, arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/) },
  fc.string({ maxLength: 10, unit: 'binary' }),
  fc.constantFrom('A=B', '', '1A', 'BOSUN_AGENT_ID', 'bosun_x', 'PATH', 'A B', 'A\u0000', 'É'),
);
const ENV_VALUE = fc.oneof({ weight: 8, arbitrary: fc.string({ maxLength: 20 }) }, TEXT);
const ENV = fc.array(fc.record({ name: ENV_NAME, value: ENV_VALUE }), { maxLength: 3 });

/** A config where each field is absent, null, or generated. */
const CONFIG = fc.record(
  {
    memory: fc.option(MEMORY),
    cpus: fc.option(CPUS),
    pidsLimit: fc.option(PIDS),
    timeoutMs: fc.option(TIMEOUT),
    steps: fc.option(STEPS),
    env: fc.option(ENV),
  },
  { requiredKeys: [] },
);

/** JSON values of any type, for what GraphQL receives over HTTP. */
const ANY_JSON = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.object({ maxDepth: 1 }),
);
const HTTP_CONFIG = fc.record(
  {
    memory: fc.oneof(fc.option(MEMORY), ANY_JSON),
    cpus: fc.oneof(fc.option(CPUS), ANY_JSON),
    pidsLimit: fc.oneof(fc.option(PIDS), ANY_JSON),
    timeoutMs: fc.oneof(fc.option(TIMEOUT), ANY_JSON),
    steps: fc.oneof(fc.option(STEPS), ANY_JSON),
    env: fc.oneof(fc.option(ENV), ANY_JSON),
  },
  { requiredKeys: [] },
);

const GROUP = { id: 'prop', name: 'property test' };
let accepted = 0;

/** Checks what a recorded create was asked for against the parsers. */
function expectValidCreate(options: CreateSandboxOptions): void {
  const { limits } = options;
  expect(parseCpus(limits.cpus, engine.cpus)).toBe(limits.cpus);
  expect(parseMemoryBytes(`${limits.memoryBytes}b`)).toBe(limits.memoryBytes);
  expect(parsePidsLimit(limits.pidsLimit)).toBe(limits.pidsLimit);
  for (const [name, value] of Object.entries(options.env ?? {})) {
    expect(name).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
    expect(value).not.toContain('\u0000');
  }
}

describe('startAgent over generated values', () => {
  it('accepts or refuses with BAD_USER_INPUT each of 10,000 inputs at the run service', async () => {
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(CONFIG, async (config) => {
        try {
          const { run } = await app.app.runs.start({ group: GROUP, config });
          accepted += 1;
          // What was accepted is within range.
          expect(run.config.timeoutMs).toBeGreaterThanOrEqual(MIN_TIMEOUT_MS);
          expect(run.config.timeoutMs).toBeLessThanOrEqual(MAX_TIMEOUT_MS);
          for (const step of run.config.steps) {
            expect(step.trim()).not.toBe('');
            expect(step).not.toContain('\u0000');
          }
        } catch (error) {
          if (!(error instanceof BosunError) || error.code !== 'BAD_USER_INPUT') throw error;
          expect(error.field).toMatch(/^input\.config\.(memory|cpus|pidsLimit|timeoutMs|steps|env)/);
          refused += 1;
        }
      }),
      { numRuns: 10_000 },
    );
    expect(accepted + refused).toBe(10_000);
    // The generators are balanced enough that both outcomes are common.
    expect(accepted).toBeGreaterThan(1_000);
    expect(refused).toBeGreaterThan(2_000);
  }, 90_000);

  it('accepts or refuses with BAD_USER_INPUT each of 300 inputs over GraphQL, any JSON type included', async () => {
    const query = 'mutation Start($input: StartAgentInput!) { startAgent(input: $input) { agentId } }';
    await fc.assert(
      fc.asyncProperty(HTTP_CONFIG, async (config) => {
        const { status, body } = await post<{ startAgent: { agentId: string } }>(app.url, query, { input: { group: GROUP, config } });
        expect([200, 400]).toContain(status);
        if (body.errors) {
          expect(body.errors.map((error) => error.extensions?.code)).toEqual(body.errors.map(() => 'BAD_USER_INPUT'));
        } else {
          expect(body.data?.startAgent.agentId).toEqual(expect.any(String));
          accepted += 1;
        }
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it('asked the engine only for sandboxes with valid limits, one per accepted run', async () => {
    await eventually(() => creates.length === accepted, `${accepted} runs to reach the sandbox (${creates.length} did)`, 30_000);
    for (const options of creates) expectValidCreate(options);
    expect(app.app.sandboxes.liveSandboxes()).toEqual([]);
  }, 60_000);
});
