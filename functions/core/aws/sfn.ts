import { SFNClient } from '@aws-sdk/client-sfn';
import { traced } from './tracing.ts';

let shared: SFNClient | undefined;

/**
 * The process-wide Step Functions client, created on first use from the standard SDK environment
 * (one module per service: see sqs.ts). `disableHostPrefix`: StartSyncExecution otherwise prefixes
 * the host with `sync-`, which breaks custom endpoints such as LocalStack's; AWS itself accepts
 * unprefixed requests.
 */
export function sharedSfnClient(): SFNClient {
  shared ??= traced(
    new SFNClient(
      process.env.AWS_ENDPOINT_URL || process.env.AWS_ENDPOINT_URL_SFN
        ? { disableHostPrefix: true }
        : {},
    ),
  );
  return shared;
}
