import { defineConfig } from 'vitest/config';

/**
 * The package as users get it: packed, installed from the tarball into an empty folder outside
 * the repository, scaffolded with `mobius init` and used there. Part of `npm test`; alone:
 * `npm run test:package`.
 */
export default defineConfig({
  test: {
    include: ['test/package/**/*.test.ts'],
    testTimeout: 900_000,
    hookTimeout: 900_000,
  },
});
