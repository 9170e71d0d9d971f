/**
 * BosunClient.sandbox against the whole service on the real engine, through nothing but the
 * client (with a token, so every call is authenticated): a run that waits in line reports its
 * positions and resolves once RUNNING, over graphql-ws and by polling; a run cancelled in line
 * rejects with RunEndedError; an abort in line cancels the run; disposal without finish cancels.
 */
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { BosunClient, BosunClientError, RunEndedError, type BosunClientOptions, type Sandbox } from '../../src/client/index.js';
import { startTestApp, type TestApp } from '../helpers/start-app.js';

const TOKEN = 'client-test-token-0123456789';
const GROUP = { id: 'client-e2e', name: 'client e2e' };

let app: TestApp | undefined;
let bosun: BosunClient | undefined;

afterEach(async () => {
  await bosun?.close();
  bosun = undefined;
  if (app) expect(await app.close(), 'containers left behind by the app').toBe(0);
  app = undefined;
});

async function start(options: Partial<BosunClientOptions> = {}): Promise<BosunClient> {
  app = await startTestApp({ MAX_CONCURRENT_AGENTS: '1', BOSUN_API_TOKEN: TOKEN });
  bosun = new BosunClient({ url: app.url, token: TOKEN, pollIntervalMs: 100, ...options });
  return bosun;
}

/** A promise of the first time `positions` holds `value`, with the positions as `onPosition` fills them. */
function positionLog(): { positions: number[]; onPosition: (position: number) => void; reached: (value: number) => Promise<void> } {
  const positions: number[] = [];
  const waiters: { value: number; resolve: () => void }[] = [];
  return {
    positions,
    onPosition: (position) => {
      positions.push(position);
      for (const waiter of waiters.filter((entry) => entry.value === position)) waiter.resolve();
    },
    reached: (value) => (positions.includes(value) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ value, resolve }))),
  };
}

/** The newest run's id with this status, read through the client. */
async function newest(client: BosunClient, status: string): Promise<string> {
  const { agentRuns } = await client.request<{ agentRuns: { id: string }[] }>(
    'query ($s: [AgentStatus!]) { agentRuns(status: $s, limit: 1) { id } }',
    {
      s: [status],
    },
  );
  if (agentRuns[0] === undefined) throw new Error(`no ${status} run`);
  return agentRuns[0].id;
}

describe.each([
  ['over graphql-ws', { webSocketImpl: WebSocket }],
  ['by polling (no WebSocket)', {}],
])('waiting in line %s', (_how, options) => {
  it('reports each run’s position while it waits and resolves once it runs', async () => {
    const client = await start(options);
    const first = await client.sandbox({ group: GROUP });
    expect((await first.info()).status).toBe('RUNNING');

    const second = positionLog();
    const third = positionLog();
    const secondSandbox = client.sandbox({ group: GROUP }, { onPosition: second.onPosition });
    await second.reached(1);
    const thirdSandbox = client.sandbox({ group: GROUP }, { onPosition: third.onPosition });
    await third.reached(2);

    await first.finish(0);
    const sb2 = await secondSandbox;
    expect((await sb2.exec('echo second')).stdout).toBe('second\n');
    await third.reached(1);
    await sb2.dispose();
    const sb3 = await thirdSandbox;
    expect((await sb3.exec('echo third')).stdout).toBe('third\n');
    await sb3.finish(0);

    expect(second.positions).toEqual([1]);
    expect(third.positions).toEqual([2, 1]);
    expect((await client.run(sb2.id)).status).toBe('CANCELLED');
  });
});

describe('a run that does not start', () => {
  it('rejects with RunEndedError when it is cancelled in line', async () => {
    const client = await start({ webSocketImpl: WebSocket });
    await using _first = await client.sandbox({ group: GROUP });
    const waiting = positionLog();
    const pending = client.sandbox({ group: GROUP }, { onPosition: waiting.onPosition });
    pending.catch(() => undefined);
    await waiting.reached(1);
    await client.attach(await newest(client, 'QUEUED')).cancel();
    const error = await pending.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(RunEndedError);
    expect(error).toMatchObject({ code: 'RUN_ENDED', run: { status: 'CANCELLED' } });
  });

  it('is cancelled when the caller aborts while it waits', async () => {
    const client = await start({ webSocketImpl: WebSocket });
    await using _first = await client.sandbox({ group: GROUP });
    const waiting = positionLog();
    const controller = new AbortController();
    const pending = client.sandbox({ group: GROUP }, { onPosition: waiting.onPosition, signal: controller.signal });
    pending.catch(() => undefined);
    await waiting.reached(1);
    const id = await newest(client, 'QUEUED');
    const reason = new Error('no longer needed');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect((await client.run(id)).status).toBe('CANCELLED');
  });
});

describe('disposal', () => {
  it('without finish cancels the run; after finish it leaves the run as it ended', async () => {
    const client = await start();
    let cancelledId: string;
    {
      await using sb = await client.sandbox({ group: GROUP });
      cancelledId = sb.id;
      expect((await sb.exec('true')).exitCode).toBe(0);
    }
    expect(await client.run(cancelledId)).toMatchObject({ status: 'CANCELLED' });

    let finished: Sandbox;
    {
      await using sb = await client.sandbox({ group: GROUP });
      finished = sb;
      expect(await sb.finish(2, 'tests still fail')).toMatchObject({ status: 'FAILED', failureReason: 'NON_ZERO_EXIT', exitCode: 2 });
    }
    expect(await client.run(finished.id)).toMatchObject({ status: 'FAILED', error: 'tests still fail' });
    const error = await finished.exec('true').catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(BosunClientError);
    expect(error).toMatchObject({ code: 'INVALID_STATE' });
  });

  it('a wrong token is UNAUTHENTICATED', async () => {
    await start();
    const stranger = new BosunClient({ url: app!.url, token: 'not-the-token-0123456789' });
    const error = await stranger.sandbox({ group: GROUP }).catch((reason: unknown) => reason);
    expect(error).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  });
});
