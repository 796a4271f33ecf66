import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files run in the order their names say: the deployment's own state is checked before the
 * messaging and coordination files make agents fail and trip their breakers.
 */
class ByFileName extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId));
  }
}

/**
 * The end-to-end suite: the stack deployed into LocalStack (test/localstack/global-setup.ts
 * installs, starts and stops it) and exercised through its API Gateway, SQS, EventBridge, Step
 * Functions, DynamoDB and CloudWatch. Part of `npm test`; alone: `npm run test:localstack`.
 */
export default defineConfig({
  test: {
    include: ['test/localstack/**/*.test.ts'],
    globalSetup: ['test/localstack/global-setup.ts'],
    // One stack, shared: files run one after another so the counters a test reads are its own.
    fileParallelism: false,
    sequence: { sequencer: ByFileName },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The SDK clients and the API client sign with these; LocalStack accepts any credentials.
    env: {
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
    },
  },
});
