import { defineConfig } from 'vitest/config';

// Two projects (style-models §8.8): fast co-located unit tests, and integration tests that start
// real processes, engines and network namespaces. Integration files run one at a time because
// they share the machine's namespaces, ports and Docker engines. `soak` (`npm run test:soak`)
// runs acceptance files that are worth repeating on their own: test/soak/ holds any kept out of
// the default suite, each saying why (none today), and the zero-downtime lab test runs in both.
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
          include: ['test/soak/**/*.test.ts', 'test/lab/zero-downtime-lab.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 300_000,
          fileParallelism: false,
          pool: 'forks',
        },
      },
    ],
  },
});
