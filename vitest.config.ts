import { defineConfig } from 'vitest/config';

// vitest 5's reporter uses Map.groupBy (Node 21+) when it prints failures; Node 20 lacks it
const mapWithGroupBy = Map as unknown as { groupBy?: <K, V>(items: Iterable<V>, key: (v: V, i: number) => K) => Map<K, V[]> };
mapWithGroupBy.groupBy ??= <K, V>(items: Iterable<V>, key: (v: V, i: number) => K) => {
  const groups = new Map<K, V[]>();
  let i = 0;
  for (const item of items) {
    const k = key(item, i++);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
};

export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'broker',
          include: ['test/**/*.test.ts'],
          exclude: ['test/permissions/**'],
          // one DynamoDB Local for the whole run, started here and handed to tests by inject()
          globalSetup: ['test/support/global-setup.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        // reads what the whole suite recorded (AWS actions each function sent), so it runs after it
        extends: true,
        test: { name: 'permissions', include: ['test/permissions/**/*.test.ts'], sequence: { groupOrder: 1 } },
      },
    ],
    pool: 'forks',
    // 2 cores: two test files at a time
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // CI also writes a JSON summary, from which .ci/run prints the plain "N passed, N failed" line
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'test/.tmp/results.json' }]] : ['default'],
  },
});
