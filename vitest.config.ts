import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Run on their own after this suite (npm test): the stack in LocalStack (vitest.localstack.config.ts)
    // and the packed package installed elsewhere (vitest.package.config.ts).
    exclude: [...configDefaults.exclude, 'test/localstack/**', 'test/package/**'],
    globalSetup: ['test/support/global-setup.ts'],
    // Integration tests talk to emulators on 127.0.0.1; give them room on a 2-core machine.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    restoreMocks: true,
    // Powertools writes logs and EMF metrics to stdout; tests assert behaviour, not log lines.
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' },
  },
});
