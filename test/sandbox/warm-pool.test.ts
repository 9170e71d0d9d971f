/**
 * The warm pool's bookkeeping with a fake engine: when a run gets a ready sandbox and when it
 * starts cold, that a sandbox is handed out once, the refill in the background (serial, bounded
 * retries, no spinning on a missing image), and housekeeping (age, image changes, rebuild, close).
 * The engine's side (freezing, limits, inspect) is in warm-pool.docker.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { CreateSandboxOptions } from '../../src/sandbox/sandbox.js';
import { SandboxError } from '../../src/sandbox/sandbox-errors.js';
import { WarmPool, type PoolBackend, type WarmPoolOptions } from '../../src/sandbox/warm-pool.js';
import { FakeSandboxProvider, Gate, type FakeSandbox } from '../helpers/fake-sandbox.js';

const IMAGE = 'bosun-sandbox:latest';
const OTHER = 'other:1';
const MiB = 1024 ** 2;
const LIMITS = { cpus: 1, memoryBytes: 256 * MiB, pidsLimit: 256 };
const USER = '1000:1000';

/** The engine's side of the pool, over the fake provider: which sandboxes are frozen, and each hand-over. */
class FakePoolBackend implements PoolBackend<FakeSandbox> {
  readonly frozen = new Set<FakeSandbox>();
  readonly handedOver: Array<{ sandbox: FakeSandbox; options: CreateSandboxOptions }> = [];
  readonly imageIds = new Map<string, string>([
    [IMAGE, 'sha256:first'],
    [OTHER, 'sha256:other'],
  ]);
  /** Creations asked for, including those that failed. */
  createCalls = 0;
  /** Errors the next creations throw, in order. */
  readonly createErrors: Error[] = [];
  /** When set, creations wait for it (honouring their signal). */
  createGate: Gate | undefined;
  takeOverError: Error | undefined;
  /** When set, hand-overs wait for it. */
  takeOverGate: Gate | undefined;

  constructor(readonly provider: FakeSandboxProvider) {}

  async createFrozen(options: { image: string; limits: typeof LIMITS; slot: string; signal?: AbortSignal }) {
    this.createCalls += 1;
    const error = this.createErrors.shift();
    if (error) throw error;
    if (this.createGate) {
      const gate = this.createGate;
      await new Promise<void>((resolve, reject) => {
        options.signal?.addEventListener('abort', () => reject(options.signal!.reason as Error), { once: true });
        void gate.opened.then(resolve);
      });
    }
    const imageId = this.imageIds.get(options.image);
    if (imageId === undefined) throw new SandboxError('IMAGE_NOT_FOUND', `no such image: ${options.image}`);
    const sandbox = await this.provider.create({ runId: options.slot, image: options.image, limits: options.limits });
    this.frozen.add(sandbox);
    return { sandbox, imageId };
  }

  async takeOver(sandbox: FakeSandbox, options: CreateSandboxOptions): Promise<void> {
    await this.takeOverGate?.opened;
    options.signal?.throwIfAborted();
    if (this.takeOverError) throw this.takeOverError;
    this.frozen.delete(sandbox);
    sandbox.warmStart = true;
    this.handedOver.push({ sandbox, options });
  }

  imageId(image: string): Promise<string | null> {
    if (this.provider.engineLost) return Promise.reject(this.provider.engineError(`look up ${image}`));
    return Promise.resolve(this.imageIds.get(image) ?? null);
  }
}

function setup(overrides: Partial<WarmPoolOptions<FakeSandbox>> = {}) {
  const provider = new FakeSandboxProvider();
  provider.images.add(OTHER);
  const backend = new FakePoolBackend(provider);
  let nowMs = 1_000_000;
  const warnings: string[] = [];
  const pool = new WarmPool<FakeSandbox>({
    provider,
    backend,
    images: [IMAGE],
    size: 1,
    limits: LIMITS,
    user: USER,
    maxAgeMs: 60_000,
    // Housekeeping is driven by the tests, never by the timer.
    housekeepingIntervalMs: 3_600_000,
    retryBaseDelayMs: 0,
    retryMaxDelayMs: 0,
    logger: { debug: () => {}, info: () => {}, warn: (_obj, msg) => warnings.push(msg ?? '') },
    now: () => nowMs,
    ...overrides,
  });
  const runOptions = (runId: string, extra: Partial<CreateSandboxOptions> = {}): CreateSandboxOptions => ({
    runId,
    image: IMAGE,
    limits: { cpus: 0.5, memoryBytes: 128 * MiB, pidsLimit: 64 },
    env: { BOSUN_AGENT_ID: runId },
    ...extra,
  });
  /** Pool sandboxes (created for a slot) and run sandboxes (created cold for a run). */
  const poolMade = () => provider.created.filter((sandbox) => sandbox.options.runId.startsWith('pool-'));
  const coldMade = () => provider.created.filter((sandbox) => !sandbox.options.runId.startsWith('pool-'));
  const ready = (image = IMAGE) => pool.status().find((status) => status.image === image)?.ready ?? 0;
  return {
    provider,
    backend,
    pool,
    warnings,
    runOptions,
    poolMade,
    coldMade,
    ready,
    advance: (ms: number) => (nowMs += ms),
  };
}

/** Lets background work (the refill) run until `done` holds; fails if it stops moving without getting there. */
async function until(what: string, done: () => boolean): Promise<void> {
  for (let turn = 0; turn < 1_000; turn += 1) {
    if (done()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never happened: ${what}`);
}

describe('filling', () => {
  it('creates nothing before the first rebuild, then fills each image to its target, frozen', async () => {
    const s = setup({ images: [IMAGE, OTHER, IMAGE], size: 2 });
    expect(s.pool.status()).toEqual([
      { image: IMAGE, target: 2, ready: 0 },
      { image: OTHER, target: 2, ready: 0 },
    ]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(s.backend.createCalls).toBe(0);
    s.pool.rebuild();
    await until('both images full', () => s.ready(IMAGE) === 2 && s.ready(OTHER) === 2);
    expect(s.backend.frozen.size).toBe(4);
    expect(s.poolMade().map((sandbox) => sandbox.options.limits)).toEqual([LIMITS, LIMITS, LIMITS, LIMITS]);
    // Pool sandboxes get no environment: the run's is given at the take, to each command.
    expect(s.poolMade().every((sandbox) => sandbox.options.env === undefined)).toBe(true);
    await s.pool.close();
  });

  it('is off at size 0: no status, nothing created, every start cold', async () => {
    const s = setup({ size: 0 });
    s.pool.rebuild();
    expect(s.pool.status()).toEqual([]);
    const sandbox = await s.pool.create(s.runOptions('run-1'));
    expect(sandbox.warmStart).toBe(false);
    expect(s.backend.createCalls).toBe(0);
    await s.pool.close();
  });
});

describe('taking', () => {
  it('hands a ready sandbox to a run with its limits and env, then refills in the background', async () => {
    const s = setup();
    s.pool.rebuild();
    await until('ready', () => s.ready() === 1);
    const first = s.poolMade()[0]!;
    const options = s.runOptions('run-1');
    const taken = await s.pool.create(options);
    expect(taken).toBe(first);
    expect(taken.warmStart).toBe(true);
    expect(s.backend.handedOver).toEqual([{ sandbox: first, options }]);
    expect(s.coldMade()).toEqual([]);
    await until('refilled', () => s.ready() === 1);
    expect(s.poolMade()).toHaveLength(2);
    await s.pool.close();
  });

  it('never hands out a sandbox twice: back-to-back runs each get their own, cold when none is ready', async () => {
    const s = setup();
    s.pool.rebuild();
    await until('ready', () => s.ready() === 1);
    s.backend.createGate = new Gate();
    const [a, b] = await Promise.all([s.pool.create(s.runOptions('run-a')), s.pool.create(s.runOptions('run-b'))]);
    expect(a).not.toBe(b);
    expect([a.warmStart, b.warmStart]).toEqual([true, false]);
    expect(b.options.runId).toBe('run-b');
    s.backend.createGate.open();
    await until('refilled', () => s.ready() === 1);
    const c = await s.pool.create(s.runOptions('run-c'));
    expect(c.warmStart).toBe(true);
    expect(new Set([a, b, c]).size).toBe(3);
    await s.pool.close();
  });

  it('starts cold, without waiting, while the refill is still creating', async () => {
    const s = setup();
    s.backend.createGate = new Gate();
    s.pool.rebuild();
    const sandbox = await s.pool.create(s.runOptions('run-1'));
    expect(sandbox.warmStart).toBe(false);
    expect(s.backend.createCalls).toBe(1);
    s.backend.createGate.open();
    await until('ready', () => s.ready() === 1);
    await s.pool.close();
  });

  it('starts a run that asks for another user, or another image, cold, and leaves the pool as it is', async () => {
    const s = setup();
    s.pool.rebuild();
    await until('ready', () => s.ready() === 1);
    const root = await s.pool.create(s.runOptions('run-root', { user: '0' }));
    const other = await s.pool.create(s.runOptions('run-other', { image: OTHER }));
    expect([root.warmStart, other.warmStart]).toEqual([false, false]);
    expect(root.options.user).toBe('0');
    expect(s.ready()).toBe(1);
    // Asking for the pool's own user by name is the default user: warm.
    const same = await s.pool.create(s.runOptions('run-same', { user: USER }));
    expect(same.warmStart).toBe(true);
    await s.pool.close();
  });

  it('removes a sandbox that could not be handed over and starts the run cold', async () => {
    const s = setup();
    s.pool.rebuild();
    await until('ready', () => s.ready() === 1);
    const broken = s.poolMade()[0]!;
    s.backend.takeOverError = new SandboxError('CONTAINER_GONE', 'the pool sandbox died');
    const sandbox = await s.pool.create(s.runOptions('run-1'));
    expect(sandbox).not.toBe(broken);
    expect(sandbox.warmStart).toBe(false);
    expect(broken.disposed).toBe(true);
    expect(s.warnings).toContain('could not hand a pool sandbox over to a run; it starts cold');
    s.backend.takeOverError = undefined;
    await until('refilled', () => s.ready() === 1);
    await s.pool.close();
  });

  it("gives up a take when the run's signal aborts: throws its reason and leaves nothing behind", async () => {
    const s = setup();
    s.pool.rebuild();
    await until('ready', () => s.ready() === 1);
    const pooled = s.poolMade()[0]!;
    s.backend.takeOverGate = new Gate();
    const controller = new AbortController();
    const taking = s.pool.create(s.runOptions('run-1', { signal: controller.signal }));
    const reason = new Error('cancelled');
    controller.abort(reason);
    s.backend.takeOverGate.open();
    await expect(taking).rejects.toBe(reason);
    expect(pooled.disposed).toBe(true);
    expect(s.coldMade()).toEqual([]);
    await s.pool.close();
  });

  it('does not hand over a sandbox of an image the name no longer points to: cold, and the pool moves to the new image', async () => {
    const s = setup();
    s.pool.rebuild();
    await until('ready', () => s.ready() === 1);
    const stale = s.poolMade()[0]!;
    s.backend.imageIds.set(IMAGE, 'sha256:second');
    const sandbox = await s.pool.create(s.runOptions('run-1'));
    expect(sandbox.warmStart).toBe(false);
    expect(stale.disposed).toBe(true);
    await until('refilled', () => s.ready() === 1);
    const fresh = await s.pool.create(s.runOptions('run-2'));
    expect(fresh.warmStart).toBe(true);
    expect(fresh).toBe(s.poolMade()[1]);
    await s.pool.close();
  });
});

describe('refill failures', () => {
  it('retries a failing engine a bounded number of times, then waits for housekeeping', async () => {
    const s = setup({ fillAttempts: 3 });
    for (let i = 0; i < 10; i += 1) s.backend.createErrors.push(new SandboxError('DOCKER_UNAVAILABLE', 'engine gone'));
    s.pool.rebuild();
    await until('three attempts', () => s.backend.createCalls === 3);
    for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(s.backend.createCalls).toBe(3);
    expect(s.warnings.at(-1)).toBe('warm pool: could not create a sandbox; trying again at the next housekeeping');
    s.backend.createErrors.length = 0;
    await s.pool.housekeep();
    await until('ready', () => s.ready() === 1);
    expect(s.backend.createCalls).toBe(4);
    await s.pool.close();
  });

  it('does not spin on an image the engine does not have: one attempt, then none until housekeeping finds it', async () => {
    const s = setup({ images: ['missing:1'] });
    s.pool.rebuild();
    await until('one attempt', () => s.backend.createCalls === 1);
    for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(s.backend.createCalls).toBe(1);
    // A take for the image starts cold and does not try again either.
    s.provider.images.add('missing:1');
    expect((await s.pool.create(s.runOptions('run-1', { image: 'missing:1' }))).warmStart).toBe(false);
    await s.pool.housekeep();
    expect(s.backend.createCalls).toBe(1);
    s.backend.imageIds.set('missing:1', 'sha256:now-here');
    await s.pool.housekeep();
    await until('ready', () => s.ready('missing:1') === 1);
    expect(s.backend.createCalls).toBe(2);
    await s.pool.close();
  });
});

describe('housekeeping', () => {
  it('replaces a sandbox older than the maximum age', async () => {
    const s = setup({ maxAgeMs: 60_000 });
    s.pool.rebuild();
    await until('ready', () => s.ready() === 1);
    const old = s.poolMade()[0]!;
    s.advance(59_999);
    await s.pool.housekeep();
    expect(old.disposed).toBe(false);
    s.advance(1);
    await s.pool.housekeep();
    await until('replaced', () => old.disposed && s.ready() === 1);
    expect(s.poolMade()).toHaveLength(2);
    await s.pool.close();
  });

  it('drains and refills when the image name points to a new image id', async () => {
    const s = setup({ size: 2 });
    s.pool.rebuild();
    await until('ready', () => s.ready() === 2);
    const before = s.poolMade();
    s.backend.imageIds.set(IMAGE, 'sha256:second');
    await s.pool.housekeep();
    expect(before.every((sandbox) => sandbox.disposed)).toBe(true);
    await until('refilled', () => s.ready() === 2);
    expect(s.poolMade()).toHaveLength(4);
    await s.pool.close();
  });

  it('drains an image the engine no longer has, and refills once it is back', async () => {
    const s = setup();
    s.pool.rebuild();
    await until('ready', () => s.ready() === 1);
    s.backend.imageIds.delete(IMAGE);
    await s.pool.housekeep();
    expect(s.poolMade()[0]!.disposed).toBe(true);
    expect(s.ready()).toBe(0);
    expect(s.backend.createCalls).toBe(1);
    s.backend.imageIds.set(IMAGE, 'sha256:back');
    await s.pool.housekeep();
    await until('ready', () => s.ready() === 1);
    await s.pool.close();
  });

  it('waits for the next time when the engine does not answer', async () => {
    const s = setup();
    s.pool.rebuild();
    await until('ready', () => s.ready() === 1);
    s.provider.loseEngine();
    await expect(s.pool.housekeep()).resolves.toBeUndefined();
    expect(s.ready()).toBe(1);
    s.provider.restoreEngine();
    await s.pool.close();
  });

  it('rebuild replaces every ready sandbox, and discards one whose creation began before it', async () => {
    const s = setup({ size: 2 });
    const gate = new Gate();
    // The first creation goes through; the second waits.
    s.provider.onCreate = () => (s.backend.createGate = gate);
    s.pool.rebuild();
    await until('the second creation under way', () => s.ready() === 1 && s.backend.createCalls === 2);
    const before = s.poolMade()[0]!;
    // After an engine outage: what exists, or was being made, may be from before it.
    s.pool.rebuild();
    expect(before.disposed).toBe(true);
    s.provider.onCreate = undefined;
    s.backend.createGate = undefined;
    gate.open();
    await until('refilled', () => s.ready() === 2);
    const made = s.poolMade();
    expect(made).toHaveLength(4);
    expect(made[1]!.disposed).toBe(true);
    await s.pool.close();
  });

  it('leaves a sandbox it cannot remove to the provider (forgotten, so reaping removes it)', async () => {
    const s = setup();
    s.pool.rebuild();
    await until('ready', () => s.ready() === 1);
    const stuck = s.poolMade()[0]!;
    stuck.disposeFailures = 1;
    await s.pool.close();
    expect(s.provider.forgotten).toEqual([stuck]);
  });
});

describe('close', () => {
  it('removes every ready sandbox, aborts a creation in flight, and later starts are cold', async () => {
    const s = setup({ size: 2 });
    const gate = new Gate();
    // The first creation goes through; the second waits.
    s.provider.onCreate = () => (s.backend.createGate = gate);
    s.pool.rebuild();
    await until('the second creation under way', () => s.ready() === 1 && s.backend.createCalls === 2);
    await s.pool.close();
    expect(s.poolMade().every((sandbox) => sandbox.disposed)).toBe(true);
    expect(s.provider.liveSandboxes()).toEqual([]);
    expect(s.pool.status()).toEqual([{ image: IMAGE, target: 2, ready: 0 }]);
    const late = await s.pool.create(s.runOptions('run-late'));
    expect(late.warmStart).toBe(false);
    s.pool.rebuild();
    await s.pool.housekeep();
    expect(s.backend.createCalls).toBe(2);
    await s.pool.close();
  });
});
