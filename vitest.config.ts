import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // one DynamoDB Local for the whole run, started here and handed to tests by inject()
    globalSetup: ['test/support/global-setup.ts'],
    pool: 'forks',
    // 2 cores: two test files at a time
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
