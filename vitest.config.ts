import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 has no exports map: Node (and so yoga and Pothos) loads its CommonJS build, while
    // vite would hand our own imports its ESM build. Two copies refuse each other's schemas, so
    // tests load the one copy that production loads.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Docker tests measure CPU and count containers: files run one at a time so they do not
    // disturb each other on a 2-core machine. Unit files are quick enough that this costs little.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
