import { defineConfig } from 'vitest/config';

// Two projects (style-models §8.8): fast co-located unit tests, and integration tests that start
// real processes, engines and network namespaces. Integration files run one at a time because
// they share the machine's namespaces, ports and Docker engines.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'scripts/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          pool: 'forks',
        },
      },
    ],
  },
});
