import { LambdaClient } from '@aws-sdk/client-lambda';

let shared: LambdaClient | undefined;

/** The process-wide Lambda client, created on first use (one module per service: see sqs.ts). */
export function sharedLambdaClient(): LambdaClient {
  shared ??= new LambdaClient({});
  return shared;
}
