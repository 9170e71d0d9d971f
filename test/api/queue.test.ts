import { describe, expect, it } from 'vitest';
import { setMaxConcurrency } from '../../src/api/queue.js';
import { BosunError } from '../../src/errors.js';
import { createFakeServices } from '../helpers/fake-services.js';

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof BosunError) return error.code;
    throw error;
  }
  return undefined;
}

describe('queue resolvers over the services', () => {
  it('setMaxConcurrency checks the value before touching the queue', () => {
    const services = createFakeServices();
    expect(setMaxConcurrency(services, 4).maxConcurrency).toBe(4);
    expect(codeOf(() => setMaxConcurrency(services, -1))).toBe('BAD_USER_INPUT');
    expect(services.queue.stats().maxConcurrency).toBe(4);
  });
});
