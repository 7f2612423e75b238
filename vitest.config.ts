import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Interop tests create network namespaces and run strongSwan; they must not run in parallel
    // with each other (shared /run bind mounts, CPU-heavy on a 2-core box).
    fileParallelism: true,
    testTimeout: 20_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
