import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { traced } from './tracing.ts';

let shared: CloudWatchClient | undefined;

/** The process-wide CloudWatch client, created on first use (one module per service: see sqs.ts). */
export function sharedCloudWatchClient(): CloudWatchClient {
  shared ??= traced(new CloudWatchClient({}));
  return shared;
}
