/**
 * The owner of every sandbox this bosun instance creates: it stamps them with the instance's
 * labels, keeps track of the live ones, and removes them all on shutdown. It also answers the
 * engine-level questions the rest of bosun asks (is the engine up, does an image exist, how big
 * is the host) and serves live stats streams to the monitor.
 *
 * It is also the warm pool's engine (the `PoolBackend` of warm-pool.ts): it makes sandboxes ahead
 * of time ({@link SandboxManager.createFrozen}), tracked and reaped like any other, and hands
 * them over to runs ({@link SandboxManager.takeOver}).
 */
import type Docker from 'dockerode';
import { DEFAULT_ISOLATION, containerName, type SandboxIsolation, type SandboxSpec } from './container-config.js';
import { DEFAULT_CALL_TIMEOUT_MS, DockerSandbox } from './docker-sandbox.js';
import type { SandboxLimits } from './limits.js';
import { dockerCall } from './docker-call.js';
import { ownershipFilter } from './labels.js';
import type { ResourceStats } from './resource-stats.js';
import type { CreateSandboxOptions, EngineInfo, SandboxProvider } from './sandbox.js';
import { toSandboxError, type SandboxError } from './sandbox-errors.js';
import { streamContainerStats } from './stats-stream.js';

export type { CreateSandboxOptions, EngineInfo } from './sandbox.js';

export interface SandboxManagerOptions {
  /** How sandboxes are isolated; default {@link DEFAULT_ISOLATION}. */
  readonly isolation?: SandboxIsolation;
  /** Deadline of each Docker API call. */
  readonly callTimeoutMs?: number;
}

export class SandboxManager implements SandboxProvider<DockerSandbox>, AsyncDisposable {
  private readonly live = new Set<DockerSandbox>();
  /**
   * Names of containers being created: such a container may exist in the engine before it has
   * an id here (`create` has not returned), and must not be taken for an orphan. A count per
   * name, so that a failed second attempt under the same name does not unprotect the first.
   */
  private readonly creating = new Map<string, number>();
  readonly isolation: SandboxIsolation;
  private readonly callTimeoutMs: number;

  constructor(
    readonly docker: Docker,
    readonly instanceId: string,
    options: SandboxManagerOptions = {},
  ) {
    this.isolation = options.isolation ?? DEFAULT_ISOLATION;
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  }

  private call<T>(action: string, fn: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T> {
    return dockerCall(action, this.callTimeoutMs, fn, outer);
  }

  /**
   * Creates and starts a sandbox labelled as this instance's, tracked until disposed. The
   * options' env is given to each of its commands, not to the container (as for a sandbox taken
   * from the warm pool, which could not know it at creation).
   */
  create(options: CreateSandboxOptions): Promise<DockerSandbox> {
    return this.createTracked(
      {
        image: options.image,
        limits: options.limits,
        runId: options.runId,
        isolation: options.user === undefined ? this.isolation : { ...this.isolation, user: options.user },
      },
      options.env,
      options.signal,
    );
  }

  /**
   * A sandbox for the warm pool: what {@link create} makes for a run with `limits`, without env,
   * named and labelled after its pool slot (`bosun.pool=true`), started, its first command's
   * process started (see prepared-command.ts), and then frozen. Also returns the id of the image
   * it runs, which tells when the image name has moved on.
   * @throws as {@link create}; nothing is left behind.
   */
  async createFrozen(options: {
    readonly image: string;
    readonly limits: SandboxLimits;
    /** The pool slot's id: the container is named `bosun-<slot>`, labelled `bosun.agent=<slot>`. */
    readonly slot: string;
    readonly signal?: AbortSignal;
  }): Promise<{ sandbox: DockerSandbox; imageId: string }> {
    const sandbox = await this.createTracked(
      { image: options.image, limits: options.limits, runId: options.slot, isolation: this.isolation, pool: true },
      undefined,
      options.signal,
    );
    try {
      await sandbox.prepareFirstCommand(options.signal);
      await sandbox.pause(options.signal);
      options.signal?.throwIfAborted();
      return { sandbox, imageId: sandbox.imageId };
    } catch (error) {
      await sandbox.dispose().catch(() => this.forget(sandbox));
      throw error;
    }
  }

  /** Hands a sandbox from {@link createFrozen} over to a run (see {@link DockerSandbox.takeOver}). */
  takeOver(sandbox: DockerSandbox, options: CreateSandboxOptions): Promise<void> {
    return sandbox.takeOver({
      runId: options.runId,
      name: containerName(options),
      limits: options.limits,
      env: options.env ?? {},
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  /** The id the image name points to now; null when the engine has no such image. */
  async imageId(image: string): Promise<string | null> {
    try {
      const info = await this.call(`look up image ${image}`, (signal) =>
        this.docker.getImage(image).inspect({ abortSignal: signal } as Docker.ImageInspectOptions),
      );
      return info.Id;
    } catch (error) {
      const fault = toSandboxError(error, `look up image ${image}`);
      if (fault.code === 'IMAGE_NOT_FOUND' || fault.code === 'CONTAINER_GONE') return null;
      throw fault;
    }
  }

  private async createTracked(
    spec: Omit<SandboxSpec, 'instanceId' | 'name'>,
    commandEnv: Readonly<Record<string, string>> | undefined,
    signal: AbortSignal | undefined,
  ): Promise<DockerSandbox> {
    const name = containerName(spec);
    this.creating.set(name, (this.creating.get(name) ?? 0) + 1);
    try {
      const sandbox = await DockerSandbox.create(
        this.docker,
        { ...spec, instanceId: this.instanceId, name },
        {
          ...(signal === undefined ? {} : { signal }),
          ...(commandEnv === undefined ? {} : { commandEnv }),
          onDisposed: (disposed) => this.live.delete(disposed),
          callTimeoutMs: this.callTimeoutMs,
        },
      );
      // Live before no longer "creating", in the same turn: a reap never sees it as neither.
      this.live.add(sandbox);
      return sandbox;
    } finally {
      const count = (this.creating.get(name) ?? 1) - 1;
      if (count === 0) this.creating.delete(name);
      else this.creating.set(name, count);
    }
  }

  /** Sandboxes created and not yet disposed. */
  liveSandboxes(): readonly DockerSandbox[] {
    return [...this.live];
  }

  /** The engine's version and host size; throws SandboxError DOCKER_UNAVAILABLE when it does not answer. */
  async engineInfo(signal?: AbortSignal): Promise<EngineInfo> {
    const info = (await this.call(
      'read the Docker engine info',
      (callSignal) => this.docker.info({ abortSignal: callSignal } as never) as unknown as Promise<object>,
      signal,
    )) as {
      ServerVersion?: string;
      NCPU?: number;
      MemTotal?: number;
    };
    return { version: info.ServerVersion ?? 'unknown', cpus: info.NCPU ?? 1, memoryBytes: info.MemTotal ?? 0 };
  }

  /** True when the engine has the image; throws SandboxError DOCKER_UNAVAILABLE when it does not answer. */
  async imageExists(image: string): Promise<boolean> {
    return (await this.imageId(image)) !== null;
  }

  /** Live stats of any container (also ones bosun did not start). */
  streamStats(containerId: string, signal: AbortSignal): AsyncIterable<ResourceStats> {
    return streamContainerStats(this.docker, containerId, signal, this.callTimeoutMs);
  }

  /**
   * What tells where a container's cgroup is on the engine's host: its main process (null when it
   * is not running) and its cgroup parent (null for the engine's default).
   */
  async cgroupPlacement(containerId: string, signal?: AbortSignal): Promise<{ pid: number | null; cgroupParent: string | null }> {
    const info = await this.call(
      `inspect ${containerId.slice(0, 12)}`,
      (callSignal) => this.docker.getContainer(containerId).inspect({ abortSignal: callSignal }),
      signal,
    );
    const pid = info.State?.Pid;
    const parent = info.HostConfig?.CgroupParent;
    return { pid: typeof pid === 'number' && pid > 0 ? pid : null, cgroupParent: typeof parent === 'string' && parent !== '' ? parent : null };
  }

  /** A container's name without the leading slash. */
  async containerName(containerId: string): Promise<string> {
    const info = await this.call(`inspect ${containerId.slice(0, 12)}`, (signal) =>
      this.docker.getContainer(containerId).inspect({ abortSignal: signal }),
    );
    return info.Name.replace(/^\//, '');
  }

  /** Ids of every container, running or not, labelled as this instance's. */
  async ownedContainerIds(): Promise<string[]> {
    return (await this.ownedContainers()).map((container) => container.Id);
  }

  private ownedContainers(): Promise<Docker.ContainerInfo[]> {
    return this.call('list containers', (signal) =>
      this.docker.listContainers({ all: true, filters: ownershipFilter(this.instanceId), abortSignal: signal }),
    );
  }

  /**
   * Removes every container labelled as this instance's that is neither a live sandbox nor one
   * being created: what a previous process of the same instance left behind, or what could not
   * be removed while the engine was away. Containers of other instances and unlabelled ones are
   * never touched. Returns the ids removed.
   */
  async reapOrphans(): Promise<string[]> {
    const containers = await this.ownedContainers();
    // Read after the listing: a sandbox whose creation ended while the engine answered is live now.
    const live = new Set([...this.live].map((sandbox) => sandbox.id));
    const ids = containers
      .filter((container) => !live.has(container.Id) && !container.Names.some((name) => this.creating.has(name.replace(/^\//, ''))))
      .map((container) => container.Id);
    await Promise.all(
      ids.map(async (id) => {
        try {
          await this.call(`remove orphan container ${id.slice(0, 12)}`, (signal) =>
            this.docker.getContainer(id).remove({ force: true, v: true, abortSignal: signal }),
          );
        } catch (error) {
          if ((error as SandboxError).code !== 'CONTAINER_GONE') throw error;
        }
      }),
    );
    return ids;
  }

  /**
   * Gives up on a sandbox that could not be removed (the engine was away): it is no longer
   * tracked as live, so the next {@link reapOrphans} removes its container.
   */
  forget(sandbox: DockerSandbox): void {
    this.live.delete(sandbox);
  }

  /** Removes every live sandbox. Errors are collected, so one failure does not leave the rest behind. */
  async disposeAll(): Promise<void> {
    const results = await Promise.allSettled([...this.live].map((sandbox) => sandbox.dispose()));
    const failures = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failures.length > 0) {
      throw new AggregateError(
        failures.map((failure): unknown => failure.reason),
        `${failures.length} sandbox(es) could not be removed`,
      );
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.disposeAll();
  }
}
