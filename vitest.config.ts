import { defineConfig } from 'vitest/config';

// Two projects (style-models §8.8): fast co-located unit tests, and integration tests that start
// real processes, engines and network namespaces. Integration files run one at a time because
// they share the machine's namespaces, ports and Docker engines. `soak` holds long or known-flaky
// acceptance runs kept out of the default suite (`npm run test:soak`), each saying why.
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
          exclude: ['test/soak/**'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'soak',
          include: ['test/soak/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          pool: 'forks',
        },
      },
    ],
  },
});
