/**
 * `ConcurrencyAdvice`: how many runs the host can take at once, and why.
 */
import type { BosunBuilder } from '../builder.js';

export function addConcurrencyAdviceType(builder: BosunBuilder): void {
  builder.objectType('ConcurrencyAdvice', {
    fields: (t) => ({
      current: t.exposeInt('current'),
      recommended: t.exposeInt('recommended'),
      canIncrease: t.exposeBoolean('canIncrease'),
      reason: t.exposeString('reason'),
    }),
  });
}
