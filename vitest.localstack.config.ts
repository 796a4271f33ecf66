import { defineConfig } from 'vitest/config';

/** The LocalStack suite: `npm run test:localstack` after localstack/deploy.sh (not part of `npm test`). */
export default defineConfig({
  test: {
    include: ['test/localstack/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
