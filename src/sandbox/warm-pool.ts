/**
 * The warm pool: sandboxes created, started and frozen ahead of time, so that a run starts in the
 * time it takes to thaw one rather than to create and start a container. It is a
 * {@link SandboxProvider} in front of the one that creates sandboxes: `create` hands over a ready
 * sandbox of the run's image when there is one (its limits, name and environment set as the run
 * asks, then thawed), and otherwise, or for a run that asks for another user, creates one as
 * before. A sandbox serves one run and is removed after it as always; the pool is refilled in the
 * background after each take, never on a start's path.
 *
 * Bookkeeping only: the engine work is the {@link PoolBackend}'s (the `SandboxManager`), so the
 * rules here are tested with a fake. Housekeeping keeps the pool honest: a sandbox older than
 * `maxAgeMs` is replaced, sandboxes of an image whose name now points to another image id are
 * drained, {@link WarmPool.rebuild} (called once orphans are reaped, at start and after an engine
 * outage) replaces every sandbox, and {@link WarmPool.close} removes them all. Refills are serial
 * per image, retried with backoff a bounded number of times when the engine fails, and not tried
 * at all for an image the engine does not have (until housekeeping finds it).
 */
import { randomUUID } from 'node:crypto';
import { errorMessage } from '../errors.js';
import { delay } from '../shared/deadline.js';
import { checkInteger } from '../shared/validate.js';
import type { SandboxLimits } from './limits.js';
import type { CreateSandboxOptions, EngineInfo, Sandbox, SandboxProvider } from './sandbox.js';
import { SandboxError } from './sandbox-errors.js';

/** What the pool needs from the engine besides a provider's cold `create`. */
export interface PoolBackend<S extends Sandbox> {
  /**
   * A sandbox of `image` made ahead of time: what a run's would be with `limits` and no
   * environment, labelled as a pool sandbox after `slot`, started and frozen; with the id of the
   * image it runs.
   * @throws SandboxError (IMAGE_NOT_FOUND, DOCKER_UNAVAILABLE, …) or the signal's reason; nothing is left behind.
   */
  createFrozen(options: {
    readonly image: string;
    readonly limits: SandboxLimits;
    readonly slot: string;
    readonly signal?: AbortSignal;
  }): Promise<{ readonly sandbox: S; readonly imageId: string }>;
  /** Hands a frozen sandbox over to the run of `options` (limits, name, env), thawed; the sandbox is then `warmStart`. */
  takeOver(sandbox: S, options: CreateSandboxOptions): Promise<void>;
  /** The id the image name points to now; null when the engine has no such image. */
  imageId(image: string): Promise<string | null>;
}

/** One image's part of the pool, as `healthReport.warmPool` shows it. */
export interface WarmPoolStatus {
  readonly image: string;
  /** Sandboxes the pool keeps ready for the image (WARM_POOL_SIZE). */
  readonly target: number;
  /** Sandboxes ready now: created, frozen, and not taken. */
  readonly ready: number;
}

/** The pool's logging (structurally the app's Logger, which this folder does not import). */
export interface WarmPoolLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface WarmPoolOptions<S extends Sandbox> {
  /** Creates the sandboxes of cold starts and answers the engine-level questions. */
  readonly provider: SandboxProvider<S>;
  readonly backend: PoolBackend<S>;
  /** Images kept warm (duplicates count once). */
  readonly images: readonly string[];
  /** Sandboxes kept ready per image; 0 keeps none (every start is cold). */
  readonly size: number;
  /** The limits pool sandboxes are made with (a run's default limits: taking one then changes none). */
  readonly limits: SandboxLimits;
  /** The user pool sandboxes run as (the provider's default): a run that asks for another starts cold. */
  readonly user: string;
  /** A ready sandbox older than this is replaced. */
  readonly maxAgeMs: number;
  /** How often ages and image ids are checked; default half of `maxAgeMs`, between 1 s and 30 s. */
  readonly housekeepingIntervalMs?: number;
  /** Failed creations in a row after which an image's refill waits for the next housekeeping; default 5. */
  readonly fillAttempts?: number;
  /** Pause after the first failed creation, doubled after each further one; default 500 ms. */
  readonly retryBaseDelayMs?: number;
  /** Longest pause between creations that fail; default 10 s. */
  readonly retryMaxDelayMs?: number;
  readonly logger: WarmPoolLogger;
  readonly now?: () => number;
}

interface ReadySandbox<S> {
  readonly sandbox: S;
  readonly imageId: string;
  readonly createdAtMs: number;
}

/** One image's ready sandboxes and the state of its refill. */
interface ImagePool<S> {
  readonly image: string;
  /** Oldest first. */
  ready: Array<ReadySandbox<S>>;
  /** The refill in progress, if any (one per image at a time). */
  filling: Promise<void> | null;
  /** Asked to refill while a refill ran: it runs again once the current one ends. */
  refillAgain: boolean;
  /** The engine does not have the image: nothing is created until housekeeping finds it. */
  missing: boolean;
  /** The image id ready sandboxes must run (the newest one seen); null before the first. */
  imageId: string | null;
  /** Failed creations in a row. */
  failures: number;
}

export class WarmPool<S extends Sandbox> implements SandboxProvider<S>, AsyncDisposable {
  private readonly pools = new Map<string, ImagePool<S>>();
  private readonly provider: SandboxProvider<S>;
  private readonly backend: PoolBackend<S>;
  private readonly size: number;
  private readonly housekeepingIntervalMs: number;
  private readonly fillAttempts: number;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly now: () => number;
  /** Aborts creations and back-off waits in flight at close. */
  private readonly closing = new AbortController();
  /** Bumped by each rebuild: a creation begun before it may hold a sandbox from before an outage. */
  private generation = 0;
  private started = false;
  private housekeeping: NodeJS.Timeout | undefined;
  private housekeepingRun: Promise<void> | null = null;
  private closed: Promise<void> | undefined;

  /** @throws InvalidValueError for a size, age, interval or retry setting out of range. */
  constructor(private readonly options: WarmPoolOptions<S>) {
    this.provider = options.provider;
    this.backend = options.backend;
    this.size = checkInteger('size', options.size, { min: 0 });
    checkInteger('maxAgeMs', options.maxAgeMs, { min: 1 });
    this.housekeepingIntervalMs = checkInteger(
      'housekeepingIntervalMs',
      options.housekeepingIntervalMs ?? Math.min(30_000, Math.max(1_000, Math.floor(options.maxAgeMs / 2))),
      { min: 1 },
    );
    this.fillAttempts = checkInteger('fillAttempts', options.fillAttempts ?? 5, { min: 1 });
    this.retryBaseDelayMs = checkInteger('retryBaseDelayMs', options.retryBaseDelayMs ?? 500, { min: 0 });
    this.retryMaxDelayMs = checkInteger('retryMaxDelayMs', options.retryMaxDelayMs ?? 10_000, { min: 0 });
    this.now = options.now ?? Date.now;
    if (this.size > 0) {
      for (const image of options.images) {
        if (!this.pools.has(image)) {
          this.pools.set(image, { image, ready: [], filling: null, refillAgain: false, missing: false, imageId: null, failures: 0 });
        }
      }
    }
  }

  // ── SandboxProvider ─────────────────────────────────────────────────────────────────────────

  /**
   * A ready sandbox of the run's image, handed over to the run, when there is one and the run
   * runs as the pool's user; otherwise (or when the hand-over fails) one created for the run.
   * Either way the sandbox is the run's alone, and `warmStart` says which it was.
   * @throws as the provider's `create`, or the signal's reason (nothing is left behind).
   */
  async create(options: CreateSandboxOptions): Promise<S> {
    const pool = this.pools.get(options.image);
    if (pool === undefined || this.closed !== undefined || (options.user !== undefined && options.user !== this.options.user)) {
      return this.provider.create(options);
    }
    options.signal?.throwIfAborted();
    const taken = pool.ready.shift();
    if (taken === undefined) {
      this.refill(pool);
      return this.provider.create(options);
    }
    // The image's id is read beside the hand-over, not before it: a rebuilt image (the set-up
    // builds it again under the same name) must not be run by a warm start, and the check costs
    // no time on the path.
    const [handedOver, current] = await Promise.allSettled([this.backend.takeOver(taken.sandbox, options), this.backend.imageId(pool.image)]);
    const currentId = current.status === 'fulfilled' ? current.value : undefined;
    if (handedOver.status === 'fulfilled' && (currentId === undefined || currentId === taken.imageId)) {
      this.refill(pool);
      return taken.sandbox;
    }
    await this.discard(taken.sandbox);
    if (options.signal?.aborted) throw options.signal.reason;
    if (handedOver.status === 'rejected') {
      this.options.logger.warn(
        { image: pool.image, err: handedOver.reason as unknown },
        'could not hand a pool sandbox over to a run; it starts cold',
      );
    } else if (currentId === null) {
      pool.missing = true;
      this.drain(pool, () => true);
    } else if (currentId !== undefined) {
      this.imageMoved(pool, currentId);
    }
    this.refill(pool);
    return this.provider.create(options);
  }

  imageExists(image: string): Promise<boolean> {
    return this.provider.imageExists(image);
  }

  engineInfo(signal?: AbortSignal): Promise<EngineInfo> {
    return this.provider.engineInfo(signal);
  }

  forget(sandbox: S): void {
    this.provider.forget(sandbox);
  }

  // ── The pool ────────────────────────────────────────────────────────────────────────────────

  /** Per image kept warm: the target and how many are ready now. Empty when the pool is off. */
  status(): WarmPoolStatus[] {
    return [...this.pools.values()].map((pool) => ({ image: pool.image, target: this.size, ready: pool.ready.length }));
  }

  /**
   * Removes every ready sandbox and fills the pool anew. The pool creates nothing before its
   * first call: the composition root calls it once the instance's orphans are reaped, at start
   * and again after an engine outage (when ready sandboxes may be gone with the engine).
   */
  rebuild(): void {
    if (this.closed !== undefined || this.pools.size === 0) return;
    this.generation += 1;
    if (!this.started) {
      this.started = true;
      this.housekeeping = setInterval(() => void this.housekeep(), this.housekeepingIntervalMs);
      this.housekeeping.unref();
    }
    for (const pool of this.pools.values()) {
      this.drain(pool, () => true);
      pool.missing = false;
      pool.failures = 0;
      this.refill(pool);
    }
  }

  /**
   * Checks every image now: one whose name points to another id is drained and refilled with the
   * new one; one the engine no longer has is drained (and refilled once it is back); sandboxes
   * older than `maxAgeMs` are replaced; a refill that gave up after failures tries again. Runs on
   * a timer after the first {@link rebuild}; never throws (an engine that does not answer waits
   * for the next time).
   */
  housekeep(): Promise<void> {
    if (!this.started || this.closed !== undefined) return Promise.resolve();
    this.housekeepingRun ??= (async () => {
      for (const pool of this.pools.values()) {
        let imageId: string | null;
        try {
          imageId = await this.backend.imageId(pool.image);
        } catch (error) {
          this.options.logger.debug({ image: pool.image, err: error }, 'warm pool: the engine did not say which image the name is');
          continue;
        }
        if (this.closed !== undefined) return;
        if (imageId === null) {
          if (!pool.missing) this.options.logger.warn({ image: pool.image }, 'warm pool: the engine has no such image; none kept warm until it has');
          pool.missing = true;
          this.drain(pool, () => true);
          continue;
        }
        pool.missing = false;
        if (imageId !== pool.imageId) this.imageMoved(pool, imageId);
        const oldest = this.now() - this.options.maxAgeMs;
        this.drain(pool, (ready) => ready.createdAtMs <= oldest);
        pool.failures = 0;
        this.refill(pool);
      }
    })().finally(() => (this.housekeepingRun = null));
    return this.housekeepingRun;
  }

  /** Stops refilling and removes every ready sandbox. Idempotent; takes after it start cold. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.housekeeping);
      this.closing.abort(new Error('the warm pool is closing'));
      const pools = [...this.pools.values()];
      await Promise.allSettled([this.housekeepingRun, ...pools.map((pool) => pool.filling)]);
      await Promise.all(pools.flatMap((pool) => pool.ready.splice(0).map((ready) => this.discard(ready.sandbox))));
    })();
    return this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The image's name points to `imageId` now: sandboxes of any other id go. */
  private imageMoved(pool: ImagePool<S>, imageId: string): void {
    if (pool.imageId !== null) this.options.logger.info({ image: pool.image, imageId }, 'warm pool: the image changed; its sandboxes are replaced');
    pool.imageId = imageId;
    this.drain(pool, (ready) => ready.imageId !== imageId);
  }

  /** Takes the ready sandboxes that match out of the pool and removes them in the background. */
  private drain(pool: ImagePool<S>, which: (ready: ReadySandbox<S>) => boolean): void {
    const going = pool.ready.filter(which);
    if (going.length === 0) return;
    pool.ready = pool.ready.filter((ready) => !which(ready));
    for (const ready of going) void this.discard(ready.sandbox);
  }

  /** Removes a sandbox; one that cannot be removed now is left to the provider's reaping. Never throws. */
  private async discard(sandbox: S): Promise<void> {
    try {
      await sandbox.dispose();
    } catch (error) {
      this.options.logger.warn(
        { containerId: sandbox.id, err: error },
        'warm pool: a sandbox could not be removed; it is reaped once the engine answers',
      );
      this.provider.forget(sandbox);
    }
  }

  /** Starts the image's refill in the background, or has the running one go on once more. */
  private refill(pool: ImagePool<S>): void {
    if (!this.started || this.closed !== undefined || pool.missing) return;
    if (pool.filling !== null) {
      pool.refillAgain = true;
      return;
    }
    pool.filling = this.fill(pool).finally(() => {
      pool.filling = null;
      if (pool.refillAgain) {
        pool.refillAgain = false;
        this.refill(pool);
      }
    });
  }

  /** Creates sandboxes one at a time until the image has its target, it fails too often, or the pool closes. */
  private async fill(pool: ImagePool<S>): Promise<void> {
    const signal = this.closing.signal;
    while (!signal.aborted && !pool.missing && pool.ready.length < this.size && pool.failures < this.fillAttempts) {
      const generation = this.generation;
      const startedAtMs = performance.now();
      try {
        const made = await this.backend.createFrozen({ image: pool.image, limits: this.options.limits, slot: `pool-${randomUUID()}`, signal });
        pool.failures = 0;
        if (signal.aborted || generation !== this.generation) {
          await this.discard(made.sandbox);
          continue;
        }
        // Created just now: the id it runs is what the name points to now.
        if (made.imageId !== pool.imageId) this.imageMoved(pool, made.imageId);
        pool.ready.push({ sandbox: made.sandbox, imageId: made.imageId, createdAtMs: this.now() });
        this.options.logger.debug(
          { image: pool.image, containerId: made.sandbox.id, tookMs: Math.round(performance.now() - startedAtMs) },
          'warm pool: a sandbox is ready',
        );
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof SandboxError && error.code === 'IMAGE_NOT_FOUND') {
          this.options.logger.warn({ image: pool.image }, 'warm pool: the engine has no such image; none kept warm until it has');
          pool.missing = true;
          return;
        }
        pool.failures += 1;
        const waitMs = Math.min(this.retryMaxDelayMs, this.retryBaseDelayMs * 2 ** (pool.failures - 1));
        const givingUp = pool.failures >= this.fillAttempts;
        this.options.logger.warn(
          { image: pool.image, failures: pool.failures, err: errorMessage(error) },
          givingUp
            ? 'warm pool: could not create a sandbox; trying again at the next housekeeping'
            : `warm pool: could not create a sandbox; trying again in ${waitMs} ms`,
        );
        if (!givingUp) await delay(waitMs, [signal]);
      }
    }
  }
}
