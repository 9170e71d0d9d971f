/**
 * Recent samples per container and the peak use of every run.
 *
 * Samples: a ring buffer per container holding what falls within `windowMs` of that container's
 * newest sample, and never more than `maxSamplesPerContainer`. A finished container's samples are
 * kept until they age out of the window (see {@link SampleHistory.prune}).
 *
 * Peaks: the highest CPU %, memory bytes and pids of each run. They outlive the container; at most
 * `maxFinishedRuns` finished runs are kept, the oldest finished dropped first.
 */
import { InvalidValueError } from '../errors.js';
import type { SampleQuery } from './monitor-service.js';
import type { ResourcePeak, ResourceSample } from './monitor-types.js';
import { RingBuffer } from './ring-buffer.js';
import { checkInteger } from '../shared/validate.js';

export interface SampleHistoryOptions {
  /** How far back from a container's newest sample samples are kept. */
  readonly windowMs: number;
  /** The hard cap on samples kept per container. */
  readonly maxSamplesPerContainer: number;
  /** Finished runs whose peaks are kept. Default 5,000. */
  readonly maxFinishedRuns?: number;
  /** Finished containers whose samples are kept (until they age out). Default 256. */
  readonly maxFinishedContainers?: number;
}

interface ContainerSamples {
  readonly agentId: string | null;
  readonly samples: RingBuffer<ResourceSample>;
  finished: boolean;
}

export class SampleHistory {
  private readonly windowMs: number;
  private readonly maxSamplesPerContainer: number;
  private readonly maxFinishedRuns: number;
  private readonly maxFinishedContainers: number;
  private readonly containers = new Map<string, ContainerSamples>();
  /** Finished containers, in the order they finished. */
  private readonly finishedContainers = new Set<string>();
  private readonly activePeaks = new Map<string, ResourcePeak>();
  /** Finished runs' peaks, in the order they finished. */
  private readonly finishedPeaks = new Map<string, ResourcePeak>();

  /** @throws InvalidValueError for a bad window or cap. */
  constructor(options: SampleHistoryOptions) {
    this.windowMs = checkInteger('windowMs', options.windowMs, { min: 1 });
    this.maxSamplesPerContainer = checkInteger('maxSamplesPerContainer', options.maxSamplesPerContainer, { min: 1 });
    this.maxFinishedRuns = checkInteger('maxFinishedRuns', options.maxFinishedRuns ?? 5_000, { min: 1 });
    this.maxFinishedContainers = checkInteger('maxFinishedContainers', options.maxFinishedContainers ?? 256, { min: 1 });
  }

  /** Records a sample: appends it to its container's buffer and raises its run's peak. */
  add(sample: ResourceSample): void {
    let entry = this.containers.get(sample.containerId);
    if (entry === undefined || entry.agentId !== sample.agentId) {
      entry = { agentId: sample.agentId, samples: new RingBuffer(this.maxSamplesPerContainer), finished: false };
      this.containers.set(sample.containerId, entry);
    }
    entry.finished = false;
    this.finishedContainers.delete(sample.containerId);
    entry.samples.push(sample);
    const oldestKept = sample.at.getTime() - this.windowMs;
    for (let oldest = entry.samples.oldest(); oldest !== undefined && oldest.at.getTime() < oldestKept; ) {
      entry.samples.shift();
      oldest = entry.samples.oldest();
    }
    if (sample.agentId !== null) this.raisePeak(sample.agentId, sample);
  }

  /** The newest sample of a container. */
  latest(containerId: string): ResourceSample | undefined {
    return this.containers.get(containerId)?.samples.newest();
  }

  /**
   * Samples kept, oldest first: of one container, of one run, or of all; the last N when `last` is set.
   * @throws InvalidValueError when `last` is not an integer of at least 0.
   */
  samples(query: SampleQuery = {}): readonly ResourceSample[] {
    const { agentId, containerId, last } = query;
    if (last !== undefined && last !== null && (!Number.isSafeInteger(last) || last < 0)) {
      throw new InvalidValueError('last to be an integer of at least 0', last);
    }
    const selected: ContainerSamples[] = [];
    for (const [id, entry] of this.containers) {
      if (containerId !== undefined && containerId !== null && id !== containerId) continue;
      if (agentId !== undefined && agentId !== null && entry.agentId !== agentId) continue;
      selected.push(entry);
    }
    const take = last ?? Number.POSITIVE_INFINITY;
    if (selected.length === 1) return selected[0]!.samples.toArray(take);
    const merged = selected.flatMap((entry) => entry.samples.toArray(take));
    merged.sort((a, b) => a.at.getTime() - b.at.getTime());
    return take >= merged.length ? merged : merged.slice(merged.length - take);
  }

  /** The peak use of a run, running or finished. */
  peakForAgent(agentId: string): ResourcePeak | undefined {
    return this.activePeaks.get(agentId) ?? this.finishedPeaks.get(agentId);
  }

  /** The peaks of every running run and of the `finishedLimit` runs that finished last. */
  recentPeaks(finishedLimit: number): readonly ResourcePeak[] {
    const finished = [...this.finishedPeaks.values()];
    return [...this.activePeaks.values(), ...finished.slice(Math.max(0, finished.length - finishedLimit))];
  }

  /**
   * Marks a container as gone: its run's peak moves to the finished runs, and its samples stay
   * until they age out of the window.
   */
  finishContainer(containerId: string): void {
    const entry = this.containers.get(containerId);
    if (entry === undefined || entry.finished) return;
    entry.finished = true;
    this.finishedContainers.add(containerId);
    for (const id of this.finishedContainers) {
      if (this.finishedContainers.size <= this.maxFinishedContainers) break;
      this.finishedContainers.delete(id);
      this.containers.delete(id);
    }
    if (entry.agentId === null) return;
    const peak = this.activePeaks.get(entry.agentId);
    if (peak === undefined) return;
    this.activePeaks.delete(entry.agentId);
    this.finishedPeaks.delete(entry.agentId);
    this.finishedPeaks.set(entry.agentId, peak);
    for (const id of this.finishedPeaks.keys()) {
      if (this.finishedPeaks.size <= this.maxFinishedRuns) break;
      this.finishedPeaks.delete(id);
    }
  }

  /** Drops finished containers whose newest sample is older than the window at `nowMs`. */
  prune(nowMs: number): void {
    for (const id of this.finishedContainers) {
      const newest = this.containers.get(id)?.samples.newest();
      if (newest === undefined || newest.at.getTime() < nowMs - this.windowMs) {
        this.finishedContainers.delete(id);
        this.containers.delete(id);
      }
    }
  }

  private raisePeak(agentId: string, sample: ResourceSample): void {
    // A run seen again after it finished (its container came back) continues its old peak.
    const before = this.activePeaks.get(agentId) ?? this.finishedPeaks.get(agentId);
    this.finishedPeaks.delete(agentId);
    this.activePeaks.set(agentId, {
      cpuPercent: Math.max(before?.cpuPercent ?? 0, sample.cpuPercent),
      memoryBytes: Math.max(before?.memoryBytes ?? 0, sample.memoryUsageBytes),
      pids: Math.max(before?.pids ?? 0, sample.pids),
    });
  }
}
