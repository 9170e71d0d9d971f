/**
 * Image references and users that used to crash or mislead the real server (issue 14, items 1
 * and 12): one `startAgent` with `config.image: "a/"` killed the process within seconds (the
 * engine's 301 for the unclean path, followed by the Docker client to a host named `images`, an
 * uncaught error); `a:b:c` and `UPPERCASE` were reported as "the Docker engine does not answer";
 * `SANDBOX_IMAGE` with a trailing slash passed start-up and crashed the first default run; a user
 * past the engine's id range was accepted and failed at run time.
 *
 * Against the whole service on the real engine, in this process: an uncaught error would fail the
 * test run. Each attack gets a clear error code and message, the server keeps answering, and the
 * run recorded before the attack is still there with its logs.
 */
import type Docker from 'dockerode';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { DockerRedirectError } from '../../src/sandbox/docker-client.js';
import { isImageReference } from '../../src/sandbox/image-reference.js';
import { createTestDocker } from '../helpers/docker.js';
import { gql, startRun, waitForFinal } from '../helpers/e2e.js';
import { countSandboxCreations, startTestApp, type TestApp } from '../helpers/start-app.js';
import { post } from './hardened-server.js';
import { runToExit } from '../helpers/run-to-exit.js';

const START = 'mutation Start($input: StartAgentInput!) { startAgent(input: $input) { agentId } }';
const GROUP = { id: 'ci-14', name: 'unclean names' };

let app: TestApp;
let created: () => number;

beforeAll(async () => {
  app = await startTestApp({ START_RATE_PER_MINUTE: '1000000' });
  created = countSandboxCreations(app);
});

afterAll(async () => {
  expect(await app.close(), 'containers left behind').toBe(0);
});

async function logLines(agentId: string): Promise<string[]> {
  const { agentRun } = await gql<{ agentRun: { logs: { line: string }[] } }>(app.url, 'query ($id: ID!) { agentRun(id: $id) { logs { line } } }', {
    id: agentId,
  });
  return agentRun.logs.map((log) => log.line);
}

let before: string;

describe('startAgent with an unclean image or a user out of range', () => {
  it('records a run before the attack', async () => {
    before = (await startRun(app.url, { steps: ['echo recorded-before-the-attack'] })).agentId;
    expect((await waitForFinal(app.url, before)).status).toBe('SUCCEEDED');
    expect(created()).toBe(1);
  });

  it.each([
    ['a/', /a path component is empty/],
    ['bosun-sandbox:latest/', /a path component is empty/],
    ['/a', /a path component is empty/],
    ['a//b', /a path component is empty/],
    ['a/./b', /path component "\."/],
    ['a/../b', /path component "\.\."/],
    ['a:b:c', /one tag at most/],
    ['UPPERCASE', /must be lowercase/],
    ['a:', /the tag after ":" is empty/],
    ['a@sha256:short', /64 lowercase hex/],
    ['a'.repeat(300), /longer than 255/],
    ['a\u0000b', /control character/],
  ])('refuses image %j with BAD_USER_INPUT naming input.config.image', async (image, why) => {
    const { status, body } = await post(app.url, START, { input: { group: GROUP, config: { steps: ['true'], image } } });
    expect(status).toBe(200);
    expect(body.data?.startAgent ?? null).toBeNull();
    expect(body.errors).toHaveLength(1);
    const error = body.errors![0]!;
    expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.config.image' });
    expect(error.message).toMatch(/^input\.config\.image: expected an image reference such as bosun-sandbox:latest/);
    expect(error.message).toMatch(why);
    expect(error.message.length).toBeLessThan(400);
  });

  it.each(['9999999999', '2147483648', '4294967295', '1000:2147483648'])(
    'refuses user %j with BAD_USER_INPUT naming input.config.user',
    async (user) => {
      const { body } = await post(app.url, START, { input: { group: GROUP, config: { steps: ['true'], user } } });
      expect(body.data?.startAgent ?? null).toBeNull();
      expect(body.errors).toHaveLength(1);
      const error = body.errors![0]!;
      expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.config.user' });
      expect(error.message).toBe(
        `input.config.user: expected a numeric user such as 1000 or 1000:1000 (uid or uid:gid, each an integer from 0 to 2147483647; 0 is root), got ${JSON.stringify(user)}`,
      );
    },
  );

  it('runs as the largest id the engine takes, 2147483647, which owns /workspace', async () => {
    const { agentId } = await startRun(app.url, {
      user: '2147483647:2147483647',
      steps: ['echo "ids $(id -u) $(id -g)"; stat -c "owner %u:%g" /workspace'],
    });
    expect((await waitForFinal(app.url, agentId)).status).toBe('SUCCEEDED');
    const lines = await logLines(agentId);
    expect(lines).toContain('ids 2147483647 2147483647');
    expect(lines).toContain('owner 2147483647:2147483647');
  });

  it('reports an engine that refuses a lookup as SANDBOX_ERROR, not as an engine that does not answer', async () => {
    // The validator stands in front of the engine; here the lookup is pointed past it at names the
    // engine answers with 400 (a:b:c, UPPERCASE) or a redirect (a/).
    const sandboxes = app.app.sandboxes;
    const imageExists = sandboxes.imageExists.bind(sandboxes);
    try {
      for (const [lookedUp, answer] of [
        ['a:b:c', /invalid reference format/],
        ['UPPERCASE', /must be lowercase/],
        ['a/', /answered with a redirect, which bosun never follows/],
      ] as const) {
        sandboxes.imageExists = () => imageExists(lookedUp);
        const { body } = await post(app.url, START, { input: { group: GROUP, config: { steps: ['true'] } } });
        expect(body.errors, lookedUp).toHaveLength(1);
        const error = body.errors![0]!;
        expect(error.extensions?.code, lookedUp).toBe('SANDBOX_ERROR');
        expect(error.message, lookedUp).toMatch(/^the Docker engine refused to look up image "bosun-sandbox:latest": /);
        expect(error.message, lookedUp).toMatch(answer);
        expect(error.message, lookedUp).not.toMatch(/does not answer/);
      }
    } finally {
      sandboxes.imageExists = imageExists;
    }
  });

  it('keeps serving, asked for no container for any refused input, and lost nothing stored', async () => {
    const health = await fetch(new URL('/health', app.origin));
    expect(health.status).toBe(200);
    // The two valid runs only.
    expect(created()).toBe(2);
    const { agentRuns } = await gql<{ agentRuns: { id: string; status: string }[] }>(app.url, '{ agentRuns { id status } }');
    expect(agentRuns).toHaveLength(2);
    expect(agentRuns.find((run) => run.id === before)?.status).toBe('SUCCEEDED');
    expect(await logLines(before)).toContain('recorded-before-the-attack');
    // And it still runs what it is given.
    const after = await startRun(app.url, { steps: ['echo after'] });
    expect((await waitForFinal(app.url, after.agentId)).status).toBe('SUCCEEDED');
  });
});

describe('the image grammar agrees with the real engine', () => {
  /** What the engine makes of a name: a lookup answer (200 or 404), a refusal (400) or a redirect. */
  async function engineVerdict(docker: Docker, name: string): Promise<'lookup' | 'refused' | 'redirect'> {
    try {
      await docker.getImage(name).inspect();
      return 'lookup';
    } catch (error) {
      if (error instanceof DockerRedirectError) return 'redirect';
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404) return 'lookup';
      if (status === 400) return 'refused';
      throw error;
    }
  }

  it('on 1,500 generated names: what bosun accepts the engine looks up, what it refuses the engine refuses or redirects', async () => {
    const docker = createTestDocker();
    // Characters that keep the name inside one URL path segment's meaning (no ? # % or space).
    const part = fc.oneof(
      { weight: 6, arbitrary: fc.stringMatching(/^[a-z0-9]{1,4}$/) },
      fc.constantFrom(
        '.',
        '..',
        '_',
        '__',
        '___',
        '-',
        '--',
        '/',
        '//',
        ':',
        '@',
        'A',
        'Z',
        'localhost',
        'r.io',
        '1.2.3.4',
        '[::1]',
        ':5000',
        'sha256:',
        'sha512:',
        '+',
        'a'.repeat(64),
        'b'.repeat(120),
      ),
    );
    const names = fc.sample(
      fc.array(part, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('')),
      { numRuns: 1_500, seed: 14 },
    );
    const disagreements: string[] = [];
    let accepted = 0;
    for (const name of new Set(names)) {
      const ours = isImageReference(name);
      const engine = await engineVerdict(docker, name);
      if (ours) accepted += 1;
      if (ours !== (engine === 'lookup')) disagreements.push(`${JSON.stringify(name)}: bosun ${ours ? 'accepts' : 'refuses'}, the engine ${engine}`);
    }
    expect(disagreements).toEqual([]);
    // Both sides of the grammar were exercised.
    expect(accepted).toBeGreaterThan(100);
    expect(new Set(names).size - accepted).toBeGreaterThan(100);
  });
});

describe('SANDBOX_IMAGE', () => {
  it.each(['bosun-sandbox:latest/', 'a:b:c', 'Bosun-Sandbox'])('%j is refused by the configuration', (image) => {
    expect(() => loadConfig({ SANDBOX_IMAGE: image }, 2)).toThrow(ConfigError);
  });

  it('with a trailing slash stops start-up with one line, before the database or the engine is touched', async () => {
    const { code, stdout, stderr } = await runToExit(['src/main.ts'], {
      env: {
        ...process.env,
        BOSUN_DB_PATH: '/nonexistent/bosun-refused.db',
        HOST: '127.0.0.1',
        PORT: '0',
        BOSUN_API_TOKEN: '',
        SANDBOX_IMAGE: 'bosun-sandbox:latest/',
      },
    });
    expect(code).toBe(1);
    expect(stderr).toBe(
      'bosun: SANDBOX_IMAGE="bosun-sandbox:latest/": expected an image reference such as bosun-sandbox:latest or registry.example.com/team/image:1.0 (a path component is empty: no leading, trailing or doubled "/")\n',
    );
    expect(stdout).toBe('');
  });
});
