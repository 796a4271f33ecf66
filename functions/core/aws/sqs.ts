import { SQSClient } from '@aws-sdk/client-sqs';
import { traced } from './tracing.ts';

let shared: SQSClient | undefined;

/**
 * The process-wide SQS client, created on first use from the standard SDK environment (AWS_REGION,
 * AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SQS); code that needs another (tests, emulators) passes its
 * own. One module per service, not one for all clients: the bundles leave the AWS SDK to the
 * Lambda runtime, esbuild keeps every import of an external package (it cannot tell the import is
 * free of side effects), and Node loads each imported client at init whether used or not.
 * Traced in Lambda once a tracer is installed (tracing.ts), as every shared client is.
 */
export function sharedSqsClient(): SQSClient {
  shared ??= traced(new SQSClient({}));
  return shared;
}
