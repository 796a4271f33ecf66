import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { traced } from './tracing.ts';

/** How plain objects become DynamoDB items everywhere in the project. */
const TRANSLATE_CONFIG = {
  marshallOptions: { removeUndefinedValues: true },
  unmarshallOptions: { wrapNumbers: false },
} as const;

/** Traced in Lambda once a tracer is installed (see tracing.ts); the document client shares its middleware. */
export function createDocumentClient(config: DynamoDBClientConfig = {}): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(traced(new DynamoDBClient(config)), TRANSLATE_CONFIG);
}

let shared: DynamoDBDocumentClient | undefined;

/**
 * One client per process, created on first use so Lambda init stays cheap for handlers that never
 * touch DynamoDB. Region and endpoint come from the standard SDK environment (`AWS_REGION`,
 * `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_DYNAMODB`), so emulators need no code change.
 */
export function sharedDocumentClient(): DynamoDBDocumentClient {
  shared ??= createDocumentClient();
  return shared;
}
