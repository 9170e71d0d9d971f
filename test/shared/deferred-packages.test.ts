/**
 * deferPackages, in fresh processes, on prom-client's @opentelemetry/api (what src/server/metrics.ts
 * defers; the Docker ones have their own test): the package is not loaded until used, then it is
 * the real one, for the dependant and for later requires alike; a package loaded already or not
 * installed is left alone.
 */
import { describe, expect, it } from 'vitest';
import { CACHE_COUNTER, inFreshProcess } from '../helpers/fresh-process.js';

const PRELUDE = `${CACHE_COUNTER}
import { createRequire } from 'node:module';
import { deferPackages } from './src/shared/deferred-packages.ts';
const fromBosun = createRequire(import.meta.url);
const fromPromClient = createRequire(fromBosun.resolve('prom-client'));
const OTEL = [{ requiredBy: ['prom-client'], specifier: '@opentelemetry/api' }];
`;

describe('deferPackages', () => {
  it('lets the dependant load without the package, and loads the real one on first use', async () => {
    const result = await inFreshProcess(`${PRELUDE}
      deferPackages(OTEL);
      deferPackages(OTEL);
      const prom = fromBosun('prom-client');
      const loaded = cached('@opentelemetry/api');
      const api = fromPromClient('@opentelemetry/api');
      const span = api.trace.getSpan(api.context.active());
      const real = fromPromClient('@opentelemetry/api');
      console.log(JSON.stringify({
        prom: typeof prom.Registry,
        loaded,
        used: cached('@opentelemetry/api'),
        span: span === undefined,
        sameTrace: api.trace === real.trace,
        keys: Object.keys(api).includes('trace') && 'context' in api,
      }));
    `);
    expect(result).toMatchObject({ prom: 'function', loaded: 1, span: true, sameTrace: true, keys: true });
    expect(result['used']).toBeGreaterThan(1);
  });

  it('leaves a package that is loaded already, or not installed, alone', async () => {
    const result = await inFreshProcess(`${PRELUDE}
      const real = fromPromClient('@opentelemetry/api');
      deferPackages([...OTEL, { requiredBy: ['prom-client'], specifier: 'no-such-package-bosun' }]);
      console.log(JSON.stringify({ same: fromPromClient('@opentelemetry/api') === real }));
    `);
    expect(result).toEqual({ same: true });
  });
});
