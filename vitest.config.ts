import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` (test/unit) runs on Node alone; `emulators` (every other folder) shares the
 * emulators test/support/global-setup.ts starts once — dynalite, moto server, local-aws-sqs. Plain
 * `vitest run` (npm test) runs both, each file once; `vitest run --project unit` only the first,
 * without starting any emulator.
 */
export default defineConfig({
  test: {
    // Shared by both projects (extends: true). Lists such as include stay per project: merged
    // configs concatenate them.
    testTimeout: 30_000, // integration tests talk to emulators on 127.0.0.1; room on 2 cores
    hookTimeout: 60_000,
    restoreMocks: true,
    // Powertools writes logs and EMF metrics to stdout; tests assert behaviour, not log lines.
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' },
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'emulators',
          include: ['test/**/*.test.ts'],
          // test/unit is the other project. Run on their own after this suite (npm test): the
          // stack in LocalStack (vitest.localstack.config.ts) and the packed package installed
          // elsewhere (vitest.package.config.ts).
          exclude: [
            ...configDefaults.exclude,
            'test/unit/**',
            'test/localstack/**',
            'test/package/**',
          ],
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
});
