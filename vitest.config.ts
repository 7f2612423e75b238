import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Test files run in parallel in forked workers. Interop tests may share a run:
    // each names its namespaces with the worker's pid, its tag and a counter (lab/netns.ts
    // uniqueName) and runs strongSwan with a private /run (test/interop/lab/strongswan.ts).
    fileParallelism: true,
    testTimeout: 20_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
