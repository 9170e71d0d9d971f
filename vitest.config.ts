import { defineConfig } from 'vitest/config';

export default defineConfig({
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
