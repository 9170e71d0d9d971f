import { describe, expectTypeOf, it } from 'vitest';
import type { ServerCode } from '../../src/client/errors.js';
import type { BosunErrorCode } from '../../src/errors.js';

describe('ServerCode', () => {
  it("names every code the server's typed errors carry, so a client can switch on each", () => {
    // A code added to the server's union and not to the client's fails the typecheck here.
    expectTypeOf<BosunErrorCode>().toExtend<ServerCode>();
  });
});
