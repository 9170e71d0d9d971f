/**
 * The owner of every sandbox this bosun instance creates: it stamps them with the instance's
 * labels, keeps track of the live ones, and removes them all on shutdown. It also answers the
 * engine-level questions the rest of bosun asks (is the engine up, does an image exist, how big
 * is the host) and serves live stats streams to the monitor.
 */
import type Docker from 'dockerode';
import { DockerSandbox } from './docker-sandbox.js';
import { ownershipFilter } from './labels.js';
import type { SandboxLimits } from './limits.js';
import type { ResourceStats } from './resource-stats.js';
import { toSandboxError } from './sandbox-errors.js';
import { streamContainerStats } from './stats-stream.js';

export interface EngineInfo {
  readonly version: string;
  /** CPUs the engine's host has. */
  readonly cpus: number;
  /** Memory of the engine's host in bytes. */
  readonly memoryBytes: number;
}

export interface CreateSandboxOptions {
  readonly agentId: string;
  readonly image: string;
  readonly limits: SandboxLimits;
  readonly env?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

export class SandboxManager implements AsyncDisposable {
  private readonly live = new Set<DockerSandbox>();

  constructor(
    readonly docker: Docker,
    readonly instanceId: string,
  ) {}

  /** Creates and starts a sandbox labelled as this instance's, tracked until disposed. */
  async create(options: CreateSandboxOptions): Promise<DockerSandbox> {
    const sandbox = await DockerSandbox.create(
      this.docker,
      {
        image: options.image,
        limits: options.limits,
        instanceId: this.instanceId,
        agentId: options.agentId,
        ...(options.env === undefined ? {} : { env: options.env }),
      },
      {
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        onDisposed: (disposed) => this.live.delete(disposed),
      },
    );
    this.live.add(sandbox);
    return sandbox;
  }

  /** Sandboxes created and not yet disposed. */
  liveSandboxes(): readonly DockerSandbox[] {
    return [...this.live];
  }

  /** The engine's version and host size; throws SandboxError DOCKER_UNAVAILABLE when it does not answer. */
  async engineInfo(signal?: AbortSignal): Promise<EngineInfo> {
    try {
      const info = (await withAbort(this.docker.info(), signal)) as {
        ServerVersion?: string;
        NCPU?: number;
        MemTotal?: number;
      };
      return { version: info.ServerVersion ?? 'unknown', cpus: info.NCPU ?? 1, memoryBytes: info.MemTotal ?? 0 };
    } catch (error) {
      throw toSandboxError(error, 'read the Docker engine info');
    }
  }

  /** True when the engine has the image; throws SandboxError DOCKER_UNAVAILABLE when it does not answer. */
  async imageExists(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(image).inspect();
      return true;
    } catch (error) {
      const fault = toSandboxError(error, `look up image ${image}`);
      if (fault.code === 'IMAGE_NOT_FOUND' || fault.code === 'CONTAINER_GONE') return false;
      throw fault;
    }
  }

  /** Live stats of any container (also ones bosun did not start). */
  streamStats(containerId: string, signal: AbortSignal): AsyncIterable<ResourceStats> {
    return streamContainerStats(this.docker, containerId, signal);
  }

  /** A container's name without the leading slash. */
  async containerName(containerId: string): Promise<string> {
    const info = await this.docker.getContainer(containerId).inspect();
    return info.Name.replace(/^\//, '');
  }

  /** Ids of every container, running or not, labelled as this instance's. */
  async ownedContainerIds(): Promise<string[]> {
    const containers = await this.docker.listContainers({ all: true, filters: ownershipFilter(this.instanceId) });
    return containers.map((container) => container.Id);
  }

  /**
   * Removes every container labelled as this instance's that is not a live sandbox: what a
   * previous process of the same instance left behind. Containers of other instances and
   * unlabelled ones are never touched. Returns the ids removed.
   */
  async reapOrphans(): Promise<string[]> {
    const live = new Set([...this.live].map((sandbox) => sandbox.id));
    let ids: string[];
    try {
      ids = (await this.ownedContainerIds()).filter((id) => !live.has(id));
    } catch (error) {
      throw toSandboxError(error, 'list orphan containers');
    }
    await Promise.all(
      ids.map(async (id) => {
        try {
          await this.docker.getContainer(id).remove({ force: true, v: true });
        } catch (error) {
          const fault = toSandboxError(error, `remove orphan container ${id.slice(0, 12)}`);
          if (fault.code !== 'CONTAINER_GONE') throw fault;
        }
      }),
    );
    return ids;
  }

  /** Removes every live sandbox. Errors are collected, so one failure does not leave the rest behind. */
  async disposeAll(): Promise<void> {
    const results = await Promise.allSettled([...this.live].map((sandbox) => sandbox.dispose()));
    const failures = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failures.length > 0) {
      throw new AggregateError(failures.map((failure) => failure.reason), `${failures.length} sandbox(es) could not be removed`);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.disposeAll();
  }
}

/** Docker's info call takes no signal: stop waiting for it when the signal aborts. */
function withAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
