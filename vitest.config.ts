import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

/**
 * Three projects, told apart by the file name:
 * - `unit` (`npm run test:unit`): every `test/**\/*.test.ts` but the Docker ones. No engine: the
 *   project points DOCKER_HOST at a socket that does not exist, so a unit test that reaches for the
 *   engine fails at once instead of quietly depending on it. Files run in parallel.
 * - `docker` (`npm run test:docker`): `test/**\/*.docker.test.ts`, the tests that need the real
 *   engine, directly or through the whole app. They measure CPU and count containers, so their
 *   files run one at a time, and only after the unit project (`groupOrder`), so that the unit
 *   files do not load the machine under them.
 * - `cluster` (`npm run test:cluster`): `test/**\/*.cluster.test.ts`, the tests that run real Redis
 *   and PostgreSQL servers (each file starts its own on loopback: test/helpers/cluster-servers.ts),
 *   and may drive the engine too (several bosun nodes on one engine). One file at a time, after
 *   the docker project, for the same reason the docker files wait for the unit ones.
 * `npm test` (and a bare `vitest run`) runs all three.
 */
export default defineConfig({
  resolve: {
    // graphql 16 has no exports map: Node (and so yoga and Pothos) loads its CommonJS build, while
    // vite would hand our own imports its ESM build. Two copies refuse each other's schemas, so
    // tests load the one copy that production loads.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.docker.test.ts', 'test/**/*.cluster.test.ts'],
          fileParallelism: true,
          sequence: { groupOrder: 0 },
          // Blank DOCKER_SOCKET counts as unset (src/config.ts), so DOCKER_HOST is what is used.
          env: { DOCKER_HOST: 'unix:///nonexistent/bosun-unit-tests-have-no-docker.sock', DOCKER_SOCKET: '' },
        },
      },
      {
        extends: true,
        test: {
          name: 'docker',
          include: ['test/**/*.docker.test.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          include: ['test/**/*.cluster.test.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
