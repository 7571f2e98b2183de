import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // real mounts: keep files in one process each, a few at a time
    pool: 'forks',
    maxWorkers: 2,
    // one file at a time: real mounts, podman and the differential runs share a 2-core machine
    fileParallelism: false,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
