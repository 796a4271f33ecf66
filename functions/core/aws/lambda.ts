import { LambdaClient } from '@aws-sdk/client-lambda';
import { traced } from './tracing.ts';

let shared: LambdaClient | undefined;

/** The process-wide Lambda client, created on first use (one module per service: see sqs.ts). */
export function sharedLambdaClient(): LambdaClient {
  shared ??= traced(new LambdaClient({}));
  return shared;
}
