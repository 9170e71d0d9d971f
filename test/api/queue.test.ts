import { describe, expect, it } from 'vitest';
import { setMaxConcurrency } from '../../src/api/queue.js';
import { BosunError } from '../../src/errors.js';
import { createFakeServices } from '../helpers/fake-services.js';

async function codeOf(run: () => unknown): Promise<string | undefined> {
  try {
    await run();
  } catch (error) {
    if (error instanceof BosunError) return error.code;
    throw error;
  }
  return undefined;
}

describe('queue resolvers over the services', () => {
  it('setMaxConcurrency checks the value before touching the queue', async () => {
    const services = createFakeServices();
    expect((await setMaxConcurrency(services, 4)).maxConcurrency).toBe(4);
    expect(await codeOf(() => setMaxConcurrency(services, -1))).toBe('BAD_USER_INPUT');
    expect(services.queue.stats().maxConcurrency).toBe(4);
  });
});
