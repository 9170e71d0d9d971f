import { describe, expect, it } from 'vitest';
import { InvalidValueError } from '../../src/errors.js';
import { NodeShare } from '../../src/queue/bullmq-node-share.js';

/** The worker's side of a share: its pause and its cap, as NodeWorker keeps them. */
function worker(concurrency: number) {
  const calls: string[] = [];
  return {
    calls,
    concurrency,
    pause: () => {
      calls.push('pause');
      return Promise.resolve();
    },
    resume: () => {
      calls.push('resume');
      return Promise.resolve();
    },
    setConcurrency(value: number) {
      this.concurrency = value;
    },
  };
}

describe('NodeShare', () => {
  it("moves the node's own cap from 1 up to the cap it was opened with, never past it", async () => {
    const own = worker(3);
    const share = new NodeShare(own, 3);
    expect(share.maxConcurrency()).toBe(3);
    await share.setMaxConcurrency(1);
    expect(share.maxConcurrency()).toBe(1);
    await share.setMaxConcurrency(3);
    expect(own.concurrency).toBe(3);
    for (const value of [0, 4, 1.5, Number.NaN]) {
      await expect(share.setMaxConcurrency(value)).rejects.toBeInstanceOf(InvalidValueError);
      await expect(share.setMaxConcurrency(value)).rejects.toThrow('from 1 to 3');
    }
    expect(own.concurrency).toBe(3);
  });

  it('takes any limit, 0 (none) included, on a node opened without a cap of its own', async () => {
    const share = new NodeShare(worker(0), 0);
    await share.setMaxConcurrency(7);
    expect(share.maxConcurrency()).toBe(7);
    await share.setMaxConcurrency(0);
    expect(share.maxConcurrency()).toBe(0);
    await expect(share.setMaxConcurrency(-1)).rejects.toBeInstanceOf(InvalidValueError);
  });

  it("pauses and resumes the node's worker only", async () => {
    const own = worker(2);
    const share = new NodeShare(own, 2);
    await share.pause();
    await share.resume();
    expect(own.calls).toEqual(['pause', 'resume']);
  });
});
