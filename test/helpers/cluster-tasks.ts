/**
 * Tasks for the cluster queue's tests: each runs until the test releases it (or its signal aborts),
 * and the set records the start order, the node of each, and the peaks of tasks running at once.
 */
import type { QueueTaskHandler } from '../../src/queue/execution-queue.js';

export class Tasks {
  readonly started: Array<{ id: string; node: string }> = [];
  running = 0;
  peak = 0;
  readonly perNode = new Map<string, number>();
  peakPerNode = 0;
  readonly #release = new Map<string, () => void>();
  readonly #listeners = new Set<() => void>();

  handler(node: string): QueueTaskHandler {
    return async (id, signal) => {
      this.started.push({ id, node });
      this.running += 1;
      this.peak = Math.max(this.peak, this.running);
      this.perNode.set(node, (this.perNode.get(node) ?? 0) + 1);
      this.peakPerNode = Math.max(this.peakPerNode, this.perNode.get(node) ?? 0);
      for (const listener of this.#listeners) listener();
      try {
        await new Promise<void>((resolve) => {
          this.#release.set(id, resolve);
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
      } finally {
        this.running -= 1;
        this.perNode.set(node, (this.perNode.get(node) ?? 1) - 1);
      }
    };
  }

  release(id: string): void {
    const release = this.#release.get(id);
    if (release === undefined) throw new Error(`${id} is not running`);
    this.#release.delete(id);
    release();
  }

  /** Resolves once `count` tasks have started. */
  async startedCount(count: number): Promise<void> {
    while (this.started.length < count) {
      await new Promise<void>((resolve) => {
        const listener = (): void => {
          this.#listeners.delete(listener);
          resolve();
        };
        this.#listeners.add(listener);
      });
    }
  }
}
