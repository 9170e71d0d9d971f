/**
 * The monitor's questions to the engine, each bounded in time: is it there (and how big is the
 * host), and what is a container called. Remembers the last answer about the engine, and the
 * host capacity from the last ping that got one.
 */
import { errorMessage } from '../errors.js';
import { withDeadline } from '../shared/deadline.js';
import { checkInteger } from '../shared/validate.js';
import type { ContainerStatsSource } from './container-stats-source.js';
import type { DockerEngineHealth, HostCapacity } from './monitor-types.js';

export class EngineProbe {
  private readonly timeoutMs: number;
  private last: DockerEngineHealth = { reachable: false, version: null, error: 'not checked yet' };
  private capacity: HostCapacity | null = null;

  /** @throws InvalidValueError for a timeout that is not an integer of at least 1. */
  constructor(
    private readonly source: Pick<ContainerStatsSource, 'engineInfo' | 'containerName'>,
    timeoutMs: number,
  ) {
    this.timeoutMs = checkInteger('engineTimeoutMs', timeoutMs, { min: 1 });
  }

  /** The host's capacity as the last successful ping found it; null before one. */
  get hostCapacity(): HostCapacity | null {
    return this.capacity;
  }

  /** Pings the engine. Never throws: an engine that fails or does not answer in time is reported so. */
  async ping(signal?: AbortSignal): Promise<DockerEngineHealth> {
    try {
      const info = await withDeadline((bounded) => this.source.engineInfo(bounded), {
        timeoutMs: this.timeoutMs,
        signal,
        onTimeout: () => new Error(`Docker engine ping: no answer within ${this.timeoutMs} ms`),
      });
      this.last = { reachable: true, version: info.version, error: null };
      this.capacity = { cpus: info.cpus, memoryBytes: info.memoryBytes };
    } catch (error) {
      this.last = { reachable: false, version: null, error: errorMessage(error) };
    }
    return this.last;
  }

  /** The container's name without Docker's leading slash; null when it cannot be had in time. */
  async containerName(containerId: string, signal?: AbortSignal): Promise<string | null> {
    try {
      const name = await withDeadline(() => this.source.containerName(containerId), { timeoutMs: this.timeoutMs, signal });
      return name.replace(/^\//, '');
    } catch {
      return null;
    }
  }
}
