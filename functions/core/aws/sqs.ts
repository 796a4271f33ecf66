import { SQSClient } from '@aws-sdk/client-sqs';

let shared: SQSClient | undefined;

/**
 * The process-wide SQS client, created on first use from the standard SDK environment (AWS_REGION,
 * AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SQS); code that needs another (tests, emulators) passes its
 * own. One module per service, not one for all clients: the bundles leave the AWS SDK to the
 * Lambda runtime, esbuild keeps every import of an external package (it cannot tell the import is
 * free of side effects), and Node loads each imported client at init whether used or not.
 */
export function sharedSqsClient(): SQSClient {
  shared ??= new SQSClient({});
  return shared;
}
